import { SourceRunner, type SourceRunnerOptions } from '../../lib/source-runner';
import type { Translate } from './i18n';
import type { Node, RED } from './red';
import { hostController } from './host';

export {
  backfillRequestOf,
  configuredBackfill,
  emitItems,
  positiveNumber,
  rangeFrom,
  type BackfillRequest,
  type SourceBackfill,
  type SourceRetention,
  type SourceRunContext,
} from '../../lib/source-runner';

/**
 * Hosts a source's runner (lib/source-runner.ts) in its node. `i18n` is the node type whose
 * catalog has the status, log and errors keys the runner uses.
 */
export function createSource(
  RED: RED,
  node: Node,
  options: { i18n: string; t: Translate } & Omit<SourceRunnerOptions, 'io' | 'ledger' | 'ledgerError'>,
): void {
  const { i18n, t, ...runner } = options;
  hostController(RED, node, {
    i18n,
    t,
    deferStart: true,
    create: (io, { ledger, error }) => new SourceRunner({ ...runner, io, ledger, ledgerError: error }),
  });
}
