export * from './types';
export {
  RateBudget,
  DEFAULT_GROUP_LIMITS,
  DEFAULT_PENALTY_SEC,
  readRateLimitHeaders,
  type BudgetPermit,
  type BudgetState,
  type HeaderSource,
  type RateBudgetOptions,
  type RateLimitHeaders,
} from './budget';
export { groupFor, lookupGroup, pathOf, type ThrottlingGroup } from './groups';
export { RcApiError, redactSecrets, type RcApiErrorDetails } from './errors';
export { ContentBody } from './content';
export { loginIdOf, sessionStoreIn, type RcSession, type RcSessionStore } from './session';
export {
  LoginPool,
  MAX_LOGINS,
  loginCredentialNames,
  loginSlotsOf,
  loginSettingsOf,
  otherAccounts,
  type LoginSlot,
  type PoolMember,
  type PoolLogin,
  type LoginGrant,
  type RefusedLogin,
} from './pool';
export {
  RcClient,
  isLoginRefusal,
  resolveServer,
  configFromEnv,
  RC_SERVERS,
  REQUIRED_PERMISSIONS,
  type RcClientOptions,
  type RcConnectionSettings,
  type RequestOptions,
  type QueryValue,
  type LogLevel,
  type ListCallLogOptions,
  type CallLogRecord,
  type CallLogRecordBase,
  type CallLogLeg,
  type CallLogRecording,
  type CallLogParty,
  type CallLogExtensionRef,
  type CallLogPage,
  type PageNavigation,
  type ConnectionInfo,
} from './client';
