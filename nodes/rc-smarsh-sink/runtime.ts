import type { RED } from '../shared/red';
import catalog from './locales/en-US/rc-smarsh-sink.json';
import { registerConfigSink } from '../shared/sink';

export default function register(RED: RED): void {
  registerConfigSink(RED, 'rc-smarsh-sink', catalog, {
    configProperty: 'account',
    noConfigKey: 'noAccount',
    sidecar: false,
  });
}
