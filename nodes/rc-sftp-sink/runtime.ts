import type { RED } from '../shared/red';
import catalog from './locales/en-US/rc-sftp-sink.json';
import { registerConfigSink } from '../shared/sink';

export default function register(RED: RED): void {
  registerConfigSink(RED, 'rc-sftp-sink', catalog, { configProperty: 'server', noConfigKey: 'noServer' });
}
