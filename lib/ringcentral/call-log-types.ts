// The parts of CallLogRecord in RingCentral's API description that the pack uses.

export interface CallLogParty {
  phoneNumber?: string;
  extensionNumber?: string;
  extensionId?: string;
  name?: string;
  location?: string;
  dialerPhoneNumber?: string;
  device?: { id: string; uri?: string };
}

export interface CallLogRecording {
  id: string;
  uri: string;
  type: 'Automatic' | 'OnDemand';
  /** Media host URI; fetch it as given (it may carry ":443"). */
  contentUri: string;
}

export interface CallLogExtensionRef {
  id: number | string;
  uri?: string;
}

export interface CallLogRecordBase {
  extension?: CallLogExtensionRef;
  telephonySessionId?: string;
  sipUuidInfo?: string;
  partyId?: string;
  transport?: 'PSTN' | 'VoIP';
  from?: CallLogParty;
  to?: CallLogParty;
  type?: 'Voice' | 'Fax';
  direction?: 'Inbound' | 'Outbound';
  message?: { id: string; type: string; uri: string };
  delegate?: { id: string; name?: string };
  delegationType?: string;
  action?: string;
  result?: string;
  reason?: string;
  reasonDescription?: string;
  /** ISO 8601 with zone. */
  startTime: string;
  duration?: number;
  durationMs?: number;
  recording?: CallLogRecording;
  shortRecording?: boolean;
  billing?: { costIncluded?: number; costPurchased?: number };
  internalType?: string;
  finished?: boolean;
  metadataCategories?: string[];
  transferTarget?: { telephonySessionId?: string };
  transferee?: { telephonySessionId?: string };
}

export interface CallLogLeg extends CallLogRecordBase {
  legType?: string;
  master?: boolean;
}

export interface CallLogRecord extends CallLogRecordBase {
  id: string;
  uri: string;
  sessionId: string;
  deleted?: boolean;
  /** view=Detailed only: a call can have recordings that only its legs show. */
  legs?: CallLogLeg[];
  lastModifiedTime?: string;
}

/**
 * A call-log record as the archiver reads it: an id and a start time, the rest as far as the
 * answer has it (a record from an older API version or a malformed page may lack any of them).
 */
export type CallLogRecordLike = Pick<CallLogRecord, 'id' | 'startTime'> &
  Partial<Omit<CallLogRecord, 'id' | 'startTime' | 'recording' | 'legs'>> & {
    recording?: CallLogRecordingLike;
    legs?: CallLogLegLike[];
  };

/** A recording needs its id and where its bytes are; the rest is read when present. */
export type CallLogRecordingLike = Pick<CallLogRecording, 'id' | 'contentUri'> & Partial<CallLogRecording>;

export type CallLogLegLike = Partial<Omit<CallLogLeg, 'recording'>> & { recording?: CallLogRecordingLike };
