// The RingCentral simulator for tests and the demo. See README.md beside this file.
export {
  Simulator,
  startSimulator,
  apiError,
  oauthError,
  type SimulatorOptions,
  type ResolvedOptions,
  type SimCredentials,
  type RecordingInfo,
  type CallInfo,
  type SimStats,
  type RequestLogEntry,
  type FaultSpec,
  type FaultHandle,
  type NewCallOptions,
  type RecordingLayout,
  type RecordingType,
  type Direction,
  type ThrottlingGroup,
} from './simulator';
export {
  contentStream,
  contentSlice,
  digestContent,
  fillContent,
  MP3_CONTENT_TYPE,
  WAV_CONTENT_TYPE,
  type ContentSpec,
  type ContentDigest,
} from './content';
export {
  OperationTable,
  RateLimiter,
  DEFAULT_RATE_LIMITS,
  type OperationInfo,
  type GroupName,
} from './throttling';
