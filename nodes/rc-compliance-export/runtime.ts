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
} from '../../lib/sources/compliance-export';
import type { RcConfigNode } from '../rc-config/runtime';
import { formatDuration } from '../../lib/backfill';
import { COMPLIANCE_EXPORT } from '../../lib/node-defaults';
import { TEXTS_WITHOUT_LIMIT_DAYS } from '../../lib/retention';
import {
  backfillRequestOf,
  createSource,
  emitItems,
  positiveNumber,
  type SourceRunContext,
} from '../shared/source';
import type { Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-compliance-export.json';
import { errorMessage, timeOfDay } from '../shared/util';

interface ExportDef extends NodeDef {
  rc?: string;
  initialDays?: string | number;
  contacts?: string;
  chatIds?: string;
  unpack?: boolean | string;
  pollSeconds?: string | number;
}

const TYPE = 'rc-compliance-export';

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  const tr = (key: string, subs?: Record<string, unknown>) => t(`${TYPE}.${key}`, subs);

  function ComplianceExport(this: Node, def: ExportDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
    const initialDays = Math.floor(positiveNumber(def.initialDays, COMPLIANCE_EXPORT.value.initialDays));
    const pollSeconds = Math.max(1, positiveNumber(def.pollSeconds, COMPLIANCE_EXPORT.value.pollSeconds));
    const unpack = def.unpack === true || def.unpack === 'true';
    // Checked at every run, so that a bad value is an error of the run (status, Catch) and nothing is sent.
    const filters = () => {
      try {
        return { contacts: parseContacts(def.contacts), chatIds: parseChatIds(def.chatIds) };
      } catch (err) {
        throw new Error(tr('errors.badFilter', { reason: errorMessage(err) }));
      }
    };
    const progressText = (p: ExportProgress): string => {
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
      msg: NodeMessage | undefined,
      send: SendFn,
      { ledger, signal }: SourceRunContext,
    ) => {
      if (!rcNode) throw new Error(tr('status.noConfig'));
      const resume = !msg;
      if (resume) {
        if (!hasUnfinishedWork(parseState(ledger.getCursor(complianceCursorName(node.id))))) return;
        node.log(tr('log.resuming'));
      }
      const { contacts, chatIds } = filters();
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
      const client = rcNode.getClient();
      node.status({ fill: 'blue', shape: 'ring', text: tr('status.starting') });
      const started = Date.now();
      let result;
      try {
        result = await runComplianceExport({
          client,
          ledger,
          source: node.id,
          rc: rcNode.id,
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
            node.status({ fill: 'blue', shape: 'ring', text: progressText(p) + left });
          },
          log: (text) => node.log(text),
        });
      } catch (err) {
        if (!isExportNotEnabled(err)) throw err;
        // The shared runtime shows the error's start in the status; put the short words there after it.
        setImmediate(() => node.status({ fill: 'red', shape: 'ring', text: tr('status.notEnabled') }));
        throw new Error(tr('errors.notEnabled'));
      }
      for (const problem of result.problems) node.warn(problem);
      const [empty] = result.noPosts;
      if (empty) {
        // An export the unpack cannot read must not look like a quiet day.
        setImmediate(() => node.status({ fill: 'red', shape: 'ring', text: tr('status.noPosts') }));
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
      node.status({
        fill: 'green',
        shape: 'dot',
        text: result.pieces
          ? tr('status.done', { count: result.newItems, pieces: result.pieces, time: timeOfDay() })
          : tr('status.nothing', { time: timeOfDay() }),
      });
    };

    createSource(RED, node, {
      i18n: TYPE,
      t,
      configured: Boolean(rcNode),
      run: (msg, send, context) => exportRun(msg, send, context),
      // After a restart: a task asked for before goes on being polled (never asked for twice); the
      // run returns at once when the cursor says nothing is unfinished.
      resume: (send, context) => exportRun(undefined, send, context),
    });
  }

  RED.nodes.registerType(TYPE, ComplianceExport);
}
