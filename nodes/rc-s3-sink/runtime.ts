import type { RED } from '../shared/red';
import catalog from './locales/en-US/rc-s3-sink.json';
import { registerConfigSink } from '../shared/sink';

export default function register(RED: RED): void {
  registerConfigSink(RED, 'rc-s3-sink', catalog, { configProperty: 'account', noConfigKey: 'noAccount' });
}
