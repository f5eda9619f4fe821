/**
 * rc-compliance-export as the source runner needs it: its settings read from the node's config and
 * the run over runComplianceExport, for a message or (msg undefined) the resume of unfinished work
 * once the flows start, with what the user reads of its progress and its problems.
 */
import { formatDuration } from '../backfill';
import {
  errorMessage,
  timeOfDayAt,
  type ControllerIO,
  type ControllerMessage,
  type ControllerSend,
} from '../controller';
import { COMPLIANCE_EXPORT } from '../node-defaults';
import { TEXTS_WITHOUT_LIMIT_DAYS } from '../retention';
import {
  backfillRequestOf,
  emitItems,
  positiveNumber,
  type SourceRunContext,
  type SourceRunnerOptions,
} from '../source-runner';
import type { RcAccount } from './account';
import {
  complianceCursorName,
  DAY_MS,
  dayOf,
  hasUnfinishedWork,
  isExportNotEnabled,
  parseChatIds,
  parseContacts,
  parseState,
  runComplianceExport,
  type ExportProgress,
} from './compliance-export';

export interface ComplianceExportSettings {
  initialDays?: string | number;
  contacts?: string;
  chatIds?: string;
  unpack?: boolean | string;
  pollSeconds?: string | number;
}

export function complianceExportSource(
  id: string,
  def: ComplianceExportSettings,
  account: RcAccount | undefined,
): Omit<SourceRunnerOptions, 'io' | 'ledger' | 'ledgerError'> {
  const initialDays = Math.floor(positiveNumber(def.initialDays, COMPLIANCE_EXPORT.value.initialDays));
  const pollSeconds = Math.max(1, positiveNumber(def.pollSeconds, COMPLIANCE_EXPORT.value.pollSeconds));
  const unpack = def.unpack === true || def.unpack === 'true';
  // Checked at every run, so that a bad value is an error of the run (status, Catch) and nothing is sent.
  const filters = (tr: ControllerIO['text']) => {
    try {
      return { contacts: parseContacts(def.contacts), chatIds: parseChatIds(def.chatIds) };
    } catch (err) {
      throw new Error(tr('errors.badFilter', { reason: errorMessage(err) }));
    }
  };
  const progressText = (tr: ControllerIO['text'], p: ExportProgress): string => {
    const at = { piece: p.piece, pieces: p.pieces };
    switch (p.phase) {
      case 'requesting':
        return tr('status.requesting', at);
      case 'slot':
        return tr('status.slot', at);
      case 'waiting':
        return tr('status.waiting', { ...at, status: p.status ?? '', polls: p.polls ?? 0 });
      case 'downloading':
        return tr('status.downloading', at);
      case 'unpacking':
        return tr('status.unpacking', at);
      default:
        return tr('status.recorded', { ...at, count: p.newItems ?? 0 });
    }
  };

  /** A run for a message, or (msg undefined) the resume of unfinished work once the flows start. */
  const exportRun = async (
    msg: ControllerMessage | undefined,
    send: ControllerSend,
    { ledger, signal, io }: SourceRunContext,
  ) => {
    const tr = io.text;
    if (!account) throw new Error(tr('status.noConfig'));
    const resume = !msg;
    if (resume) {
      if (!hasUnfinishedWork(parseState(ledger.getCursor(complianceCursorName(id))))) return;
      io.log(tr('log.resuming'));
    }
    const { contacts, chatIds } = filters(tr);
    const request = msg ? backfillRequestOf(msg) : undefined;
    // RingCentral keeps team messaging without a time limit: "all retained" reaches as far back as
    // for texts, in pieces of at most six months.
    const range = resume
      ? ('resume' as const)
      : request?.kind === 'retained'
        ? { dateFrom: new Date(Date.now() - TEXTS_WITHOUT_LIMIT_DAYS * 86_400_000).toISOString() }
        : request?.kind === 'range'
          ? { dateFrom: request.dateFrom, dateTo: request.dateTo }
          : undefined;
    const client = account.getClient();
    io.status({ fill: 'blue', shape: 'ring', text: tr('status.starting') });
    const started = Date.now();
    let result;
    try {
      result = await runComplianceExport({
        client,
        ledger,
        source: id,
        rc: account.id,
        initialDays,
        contacts,
        chatIds,
        unpack,
        pollMs: pollSeconds * 1000,
        range,
        signal,
        onItems: (items) => emitItems(send, items),
        onProgress: (p) => {
          // Pieces wait on RingCentral's export, not on a rate budget: the time left is the pieces
          // left at the pace of the ones done in this run.
          const left =
            p.piece > 1
              ? tr('status.left', {
                  eta: formatDuration(
                    ((Date.now() - started) / (p.piece - 1) / 1000) * (p.pieces - p.piece + 1),
                  ),
                })
              : '';
          io.status({ fill: 'blue', shape: 'ring', text: progressText(tr, p) + left });
        },
        log: (text) => io.log(text),
      });
    } catch (err) {
      if (!isExportNotEnabled(err)) throw err;
      // The shared runtime shows the error's start in the status; put the short words there after it.
      setImmediate(() => io.status({ fill: 'red', shape: 'ring', text: tr('status.notEnabled') }));
      throw new Error(tr('errors.notEnabled'));
    }
    for (const problem of result.problems) io.warn(problem);
    const [empty] = result.noPosts;
    if (empty) {
      // An export the unpack cannot read must not look like a quiet day.
      setImmediate(() => io.status({ fill: 'red', shape: 'ring', text: tr('status.noPosts') }));
      throw new Error(
        tr('errors.noPosts', {
          task: empty.taskId,
          from: dayOf(empty.from),
          to: dayOf(Date.parse(empty.to) - DAY_MS),
          reason: tr(empty.reason === 'no-post-files' ? 'errors.noPostFiles' : 'errors.noReadablePost', {
            detail: empty.detail,
          }),
          more:
            result.noPosts.length > 1 ? tr('errors.morePieces', { count: result.noPosts.length - 1 }) : '',
        }),
      );
    }
    if (result.problems.length)
      throw new Error(tr('errors.problems', { count: result.problems.length, first: result.problems[0] }));
    io.status({
      fill: 'green',
      shape: 'dot',
      text: result.pieces
        ? tr('status.done', { count: result.newItems, pieces: result.pieces, time: timeOfDayAt(Date.now()) })
        : tr('status.nothing', { time: timeOfDayAt(Date.now()) }),
    });
  };

  return {
    configured: Boolean(account),
    run: (msg, send, context) => exportRun(msg, send, context),
    // After a restart: a task asked for before goes on being polled (never asked for twice); the
    // run returns at once when the cursor says nothing is unfinished.
    resume: (send, context) => exportRun(undefined, send, context),
  };
}
