// `npm start`: Node-RED on 127.0.0.1:1880 with this pack, the RingCentral simulator and a demo
// flow that archives call-log records and call recordings into .demo/archive. Stop with Ctrl+C.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator } from '../test/sim/index';
import { demoFlow } from './demo-flow';
import { root } from '../test/support/node-red';
import { prepareUserDir, startNodeRed } from '../test/support/node-red-process';

const port = Number(process.env.PORT || 1880);
const demoDir = process.env.RC_DEMO_DIR || join(root, '.demo');
const userDir = join(demoDir, 'node-red');
const archiveDir = join(demoDir, 'archive');

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist', 'nodes'))) {
    const built = spawnSync(process.execPath, [join(root, 'build.mjs')], { stdio: 'inherit', cwd: root });
    if (built.status !== 0) process.exit(built.status ?? 1);
  }
  mkdirSync(archiveDir, { recursive: true });

  const sim = await startSimulator({
    seed: 1,
    days: 3,
    liveActivity: { intervalMs: 60_000, callsPerTick: 2 },
  });
  prepareUserDir(userDir, demoFlow());
  const red = await startNodeRed({
    userDir,
    port,
    env: {
      RC_SERVER: sim.platformUrl,
      RC_CLIENT_ID: sim.credentials.clientId,
      RC_CLIENT_SECRET: sim.credentials.clientSecret,
      RC_JWT: sim.credentials.jwt,
    },
  });
  red.child.stdout?.pipe(process.stdout);
  red.child.stderr?.pipe(process.stderr);
  console.log(`\nRingCentral simulator: ${sim.platformUrl}`);
  console.log(`Node-RED editor:       ${red.url}`);
  console.log(`Archive folder:        ${archiveDir}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await red.stop();
    await sim.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  red.child.once('exit', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
