// What the CLI tests check a run against: the phases seen (the archive itself: gitArchiveSha in helpers/fixtures).

/** The phases in the order they first appear among the progress events. */
export function phaseSequence(events: Record<string, unknown>[]): string[] {
  const phases: string[] = [];
  for (const event of events) {
    if (event.type === 'progress' && phases[phases.length - 1] !== event.phase) phases.push(String(event.phase));
  }
  return phases;
}
