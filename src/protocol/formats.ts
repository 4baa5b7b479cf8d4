/** The archive formats ferry builds; its own module so the CLI can name them without loading the archiver. */
export type ArchiveFormat = 'zip' | 'tar.gz';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['zip', 'tar.gz'];
