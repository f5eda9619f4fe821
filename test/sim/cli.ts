// Starts the RingCentral simulator and prints its URLs and credentials as one JSON line on stdout.
//   npx tsx test/sim/cli.ts --port 18080 --media-port 18081 --seed 1 --rate-window 10
// Stops cleanly on SIGINT / SIGTERM. --help lists the options.
import { parseArgs } from 'node:util';
import { startSimulator, type Simulator, type SimulatorOptions } from './simulator';

const spec = {
  host: { type: 'string', help: 'interface to listen on (127.0.0.1)' },
  port: { type: 'string', help: 'platform port (0 = random)' },
  'media-port': { type: 'string', help: 'media port (0 = random)' },
  seed: { type: 'string', help: 'seed of data and content (1)' },
  now: { type: 'string', help: 'ISO start of the sim clock (real now)' },
  'account-id': { type: 'string', help: 'account id (400000001)' },
  extensions: { type: 'string', help: 'user extensions (5)' },
  days: { type: 'string', help: 'days of history (7)' },
  'calls-per-day': { type: 'string', help: 'calls per day (20)' },
  'recording-fraction': { type: 'string', help: 'recorded share of answered calls (0.5)' },
  'two-recording-fraction': { type: 'string', help: 'of recorded calls, share with two recordings (0.1)' },
  'leg-only-fraction': { type: 'string', help: 'of recorded calls, share recorded only in a leg (0.1)' },
  'wav-fraction': { type: 'string', help: 'share of WAV recordings (0.2)' },
  'fax-fraction': { type: 'string', help: 'share of fax records (0.03)' },
  'late-fraction': { type: 'string', help: 'share of late records (0.05)' },
  'late-delay-sec': { type: 'string', help: 'delay of late records (120)' },
  'late-recording-fraction': { type: 'string', help: 'share of recordings attached late (0.05)' },
  'late-recording-delay-sec': { type: 'string', help: 'delay of late recordings (300)' },
  'min-bytes': { type: 'string', help: 'smallest recording (20000)' },
  'max-bytes': { type: 'string', help: 'largest recording (200000)' },
  'client-id': { type: 'string', help: 'app client id' },
  'client-secret': { type: 'string', help: 'app client secret' },
  jwt: { type: 'string', help: 'JWT credential of the admin' },
  'access-ttl': { type: 'string', help: 'access-token lifetime, s (3600)' },
  'refresh-ttl': { type: 'string', help: 'refresh-token lifetime, s (604800)' },
  'max-sessions': { type: 'string', help: 'parallel sessions per user (5)' },
  'rate-window': { type: 'string', help: 'rate-limit window, s (60)' },
  penalty: { type: 'string', help: 'penalty after a 429, s (= window)' },
  'limit-light': { type: 'string', help: 'Light requests per window (50)' },
  'limit-medium': { type: 'string', help: 'Medium requests per window (40)' },
  'limit-heavy': { type: 'string', help: 'Heavy requests per window (10)' },
  'limit-auth': { type: 'string', help: 'Auth requests per window (5)' },
  'per-page-over-max': { type: 'string', help: 'error | clamp (error)' },
  'call-log-totals': { type: 'boolean', help: 'include totals and lastPage in call-log paging' },
  'live-interval-ms': { type: 'string', help: 'add calls every this many ms' },
  'live-calls': { type: 'string', help: 'calls added per interval (1)' },
  'live-messages': { type: 'string', help: 'messages added per interval (0)' },
  'messages-per-day': { type: 'string', help: 'voicemail/fax/SMS/MMS/pager messages per day (12)' },
  'retention-days': { type: 'string', help: 'fax/voicemail retention in the message store, days (30)' },
  'no-other-extensions': { type: 'boolean', help: 'only user extensions (no Department, Voicemail, …)' },
  'posts-per-day': { type: 'string', help: 'team-messaging posts per day (20)' },
  'export-polls': { type: 'string', help: 'data-export task reads until Completed (2)' },
  'export-file-elements': { type: 'string', help: 'elements per numbered file of an export zip (10000)' },
  'no-compliance-export': { type: 'boolean', help: 'data export answers 403 FeatureNotAvailable' },
  'no-media-ranges': {
    type: 'boolean',
    help: 'the media host ignores Range and answers 200 with the whole file',
  },
  verbose: { type: 'boolean', help: 'log every request on stderr' },
  help: { type: 'boolean', help: 'show this help' },
} as const;

function usage(): string {
  const lines = Object.entries(spec).map(
    ([name, o]) => `  --${name}${o.type === 'string' ? ' <value>' : ''}  ${o.help}`,
  );
  return `usage: npx tsx test/sim/cli.ts [options]\n${lines.join('\n')}\n`;
}

function main(): void {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, { type: v.type }])) as Record<
      string,
      { type: 'string' | 'boolean' }
    >,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage());
    return;
  }
  const str = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const num = (name: string): number | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${v}`);
    return n;
  };
  const limits: SimulatorOptions['rateLimits'] = {};
  for (const g of ['Light', 'Medium', 'Heavy', 'Auth'] as const) {
    const n = num(`limit-${g.toLowerCase()}`);
    if (n !== undefined) limits[g] = n;
  }
  const minBytes = num('min-bytes');
  const maxBytes = num('max-bytes');
  const liveInterval = num('live-interval-ms');
  const perPageOverMax = str('per-page-over-max');
  if (perPageOverMax !== undefined && perPageOverMax !== 'error' && perPageOverMax !== 'clamp') {
    throw new Error('--per-page-over-max must be error or clamp');
  }
  const options: SimulatorOptions = {
    host: str('host'),
    port: num('port'),
    mediaPort: num('media-port'),
    seed: num('seed'),
    now: str('now'),
    accountId: str('account-id'),
    extensions: num('extensions'),
    days: num('days'),
    callsPerDay: num('calls-per-day'),
    recordingFraction: num('recording-fraction'),
    twoRecordingFraction: num('two-recording-fraction'),
    legOnlyFraction: num('leg-only-fraction'),
    wavFraction: num('wav-fraction'),
    faxFraction: num('fax-fraction'),
    lateFraction: num('late-fraction'),
    lateDelaySec: num('late-delay-sec'),
    lateRecordingFraction: num('late-recording-fraction'),
    lateRecordingDelaySec: num('late-recording-delay-sec'),
    recordingBytes:
      minBytes !== undefined || maxBytes !== undefined
        ? { min: minBytes ?? 20_000, max: maxBytes ?? Math.max(minBytes ?? 0, 200_000) }
        : undefined,
    clientId: str('client-id'),
    clientSecret: str('client-secret'),
    jwt: str('jwt'),
    accessTokenTtlSec: num('access-ttl'),
    refreshTokenTtlSec: num('refresh-ttl'),
    maxSessions: num('max-sessions'),
    rateWindowSec: num('rate-window'),
    penaltySec: num('penalty'),
    rateLimits: limits,
    perPageOverMax,
    callLogTotals: values['call-log-totals'] === true ? true : undefined,
    messagesPerDay: num('messages-per-day'),
    faxVoicemailRetentionDays: num('retention-days'),
    otherExtensions: values['no-other-extensions'] === true ? false : undefined,
    postsPerDay: num('posts-per-day'),
    exportPollsToComplete: num('export-polls'),
    exportFileElements: num('export-file-elements'),
    complianceExportEnabled: values['no-compliance-export'] === true ? false : undefined,
    mediaRanges: values['no-media-ranges'] === true ? false : undefined,
    liveActivity: liveInterval
      ? {
          intervalMs: liveInterval,
          callsPerTick: num('live-calls') ?? 1,
          messagesPerTick: num('live-messages') ?? 0,
        }
      : undefined,
    log: values.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
  };
  for (const key of Object.keys(options) as (keyof SimulatorOptions)[]) {
    if (options[key] === undefined) delete options[key];
  }

  let sim: Simulator | undefined;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`simulator: ${signal}, closing\n`);
    const exit = setTimeout(() => process.exit(0), 3000);
    exit.unref();
    (sim ? sim.close() : Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  startSimulator(options).then(
    (started) => {
      sim = started;
      if (stopping) {
        void started.close().then(() => process.exit(0));
        return;
      }
      process.stdout.write(`${JSON.stringify({ ...started.info(), server: started.platformUrl })}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`simulator: ${(err as Error)?.message ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

try {
  main();
} catch (err) {
  process.stderr.write(`simulator: ${(err as Error).message}\n${usage()}`);
  process.exit(2);
}
