import type { JobListener } from './reporter.js';
import type { JobMessage } from '../../protocol/job.js';

/** The part of the NOTIFY client the jobs layer needs. */
export interface NotifierLike {
  send(deviceId: string, jobId: string, message: JobMessage, options: { important: boolean }): void;
  flush(): Promise<void>;
}

/** Forward a job's messages to the device that asked for it. */
export function notifyListener(notifier: NotifierLike, deviceId: string): JobListener {
  return (message, _state, important) => notifier.send(deviceId, message.jobId, message, { important });
}
