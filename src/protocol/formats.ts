/** The archive formats ferry builds; its own module so the CLI can name them without loading the archiver. */
export type ArchiveFormat = 'zip' | 'tar.gz';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['zip', 'tar.gz'];

/** What a job's artifact is: an archive format, a git bundle (kind `bundle`) or an upstream file as it is (kind `file`). */
export type ArtifactFormat = ArchiveFormat | 'bundle' | 'file';
export const ARTIFACT_FORMATS: readonly ArtifactFormat[] = [...ARCHIVE_FORMATS, 'bundle', 'file'];
