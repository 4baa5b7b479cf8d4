import type { JobListener } from './reporter.js';
import type { JobMessage } from '../../protocol/job.js';

export interface NotifierLike {
  send(deviceId: string, jobId: string, message: JobMessage, options: { important: boolean }): void;
  flush(): Promise<void>;
}

export function notifyListener(notifier: NotifierLike, deviceId: string): JobListener {
  return (message, _state, important) => notifier.send(deviceId, message.jobId, message, { important });
}
