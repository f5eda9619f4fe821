import type { RED } from '../shared/red';
import catalog from './locales/en-US/rc-box-sink.json';
import { registerConfigSink } from '../shared/sink';

export default function register(RED: RED): void {
  registerConfigSink(RED, 'rc-box-sink', catalog, { configProperty: 'account', noConfigKey: 'noAccount' });
}
