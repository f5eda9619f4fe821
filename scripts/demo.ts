// `npm start`: Node-RED on 127.0.0.1:1880 with this pack, the RingCentral simulator and a demo
// flow that archives call recordings into .demo/archive. Stop with Ctrl+C.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator } from '../test/sim/index';
import { root } from '../test/support/node-red';
import { prepareUserDir, startNodeRed } from '../test/support/node-red-process';

const port = Number(process.env.PORT || 1880);
const demoDir = process.env.RC_DEMO_DIR || join(root, '.demo');
const userDir = join(demoDir, 'node-red');
const archiveDir = join(demoDir, 'archive');

function demoFlow(): unknown[] {
  const tab = 'demo0000000000a1';
  return [
    {
      id: tab,
      type: 'tab',
      label: 'RingCentral archiver demo',
      info: 'Archives the simulator’s call recordings into .demo/archive every minute.',
    },
    {
      id: 'demo0000000000b1',
      type: 'inject',
      z: tab,
      name: 'every minute',
      props: [{ p: 'payload' }],
      repeat: '60',
      once: true,
      onceDelay: '2',
      payload: '',
      payloadType: 'date',
      x: 130,
      y: 100,
      wires: [['demo0000000000b2']],
    },
    {
      id: 'demo0000000000b2',
      type: 'rc-call-log-source',
      z: tab,
      name: '',
      rc: 'demo0000000000c1',
      scope: 'account',
      extensionId: '',
      initialDays: 3,
      lookBackMinutes: 120,
      x: 330,
      y: 100,
      wires: [['demo0000000000b3']],
    },
    {
      id: 'demo0000000000b3',
      type: 'rc-rate-limit',
      z: tab,
      name: '',
      rc: '',
      group: 'auto',
      x: 530,
      y: 100,
      wires: [['demo0000000000b4']],
    },
    {
      id: 'demo0000000000b4',
      type: 'rc-folder-sink',
      z: tab,
      name: '',
      directory: archiveDir,
      template: '',
      timeZone: 'UTC',
      sidecar: true,
      concurrency: 4,
      x: 730,
      y: 100,
      wires: [['demo0000000000b5'], ['demo0000000000b5', 'demo0000000000b7']],
    },
    {
      id: 'demo0000000000b5',
      type: 'rc-archive-log',
      z: tab,
      name: '',
      summaryDelay: 3,
      x: 930,
      y: 100,
      wires: [['demo0000000000b6']],
    },
    {
      id: 'demo0000000000b6',
      type: 'debug',
      z: tab,
      name: 'run summary',
      active: true,
      tosidebar: true,
      console: false,
      tostatus: true,
      complete: 'payload',
      targetType: 'msg',
      statusVal: 'payload.archived',
      statusType: 'msg',
      x: 1120,
      y: 100,
      wires: [],
    },
    {
      id: 'demo0000000000b7',
      type: 'debug',
      z: tab,
      name: 'failed item',
      active: true,
      tosidebar: true,
      console: false,
      complete: 'error.message',
      targetType: 'msg',
      x: 930,
      y: 160,
      wires: [],
    },
    { id: 'demo0000000000c1', type: 'rc-config', name: 'RingCentral simulator', server: '', serverUrl: '' },
  ];
}

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
