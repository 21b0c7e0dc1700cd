/** Readers for public emotion benchmarks' label files into manifest entries (see each file). */
export { parseCsv, parsePyStringList, type CsvRecord, type CsvIssue } from './csv';
export { ImportError, writeImported, mediaPath, type ImportIssue, type ImportOptions, type ImportResult } from './common';
export { importEmer, readEmerReasons, readEmerOpenset, EMER_PROMPT, EMER_OV_PROMPT, type EmerImportOptions, type EmerReason, type EmerOpenset } from './emer';
export { importDfew, readDfewLabels, dfewClass, dfewFileInfo, DFEW_CLASSES, DFEW_OPTIONS, DFEW_PROMPT, EMOTION_QUESTION, type DfewClass, type DfewRow } from './dfew';
export { importMafw, readMafwLabels, mafwFileSplit, MAFW_CLASSES, MAFW_ANSWER, MAFW_OPTIONS, MAFW_PROMPT, type MafwClass, type MafwRow } from './mafw';
