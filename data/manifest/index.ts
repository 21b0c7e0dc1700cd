/** The instruction JSONL manifest: schema, streaming reader with per-line issues, atomic writer. */
export { ManifestEntry, Labels, Turn, Split } from './schema';
export { readManifest, parseManifestLine, ManifestError, type Manifest, type ManifestItem, type ManifestIssue } from './read';
export { writeManifest, manifestLine } from './write';
