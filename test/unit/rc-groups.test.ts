import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { groupFor, lookupGroup, pathOf } from '../../lib/ringcentral/groups';

const TSV_CANDIDATES = [
  join(__dirname, '../sim/spec/rc-operations-throttling.tsv'),
  // The project's shared reference folder, beside the repository.
  join(__dirname, '../../../shared/ringcentral/rc-operations-throttling.tsv'),
];

describe('groupFor', () => {
  it('knows the groups of the operations the pack uses', () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/restapi/v1.0/account/~/call-log', 'Heavy'],
      ['GET', '/restapi/v1.0/account/~/extension/~/call-log', 'Heavy'],
      ['GET', '/restapi/v1.0/account/~/call-log-sync', 'Heavy'],
      ['GET', '/restapi/v1.0/account/~/extension/123/call-log-sync', 'Heavy'],
      ['GET', '/restapi/v1.0/account/~/recording/456', 'Heavy'],
      ['GET', 'https://media.ringcentral.com:443/restapi/v1.0/account/123/recording/456/content', 'Heavy'],
      ['GET', '/restapi/v1.0/account/~/extension', 'Medium'],
      ['GET', '/restapi/v1.0/account/~/extension/~', 'Light'],
      ['GET', '/restapi/v1.0/account/~', 'Light'],
      ['GET', '/restapi/v1.0/account/~/extension/~/message-store?messageType=Fax&perPage=100', 'Light'],
      ['GET', '/restapi/v1.0/account/~/extension/~/message-store/789', 'Light'],
      [
        'GET',
        'https://media.ringcentral.com/restapi/v1.0/account/1/extension/2/message-store/3/content/4',
        'Medium',
      ],
      ['GET', '/restapi/v1.0/account/~/extension/~/authz-profile', 'Medium'],
      ['GET', '/restapi/v1.0/account/~/extension/~/authz-profile/check', 'Light'],
      ['POST', '/team-messaging/v1/data-export', 'Heavy'],
      ['GET', '/team-messaging/v1/data-export', 'Medium'],
      ['GET', '/team-messaging/v1/data-export/abc', 'Medium'],
      ['POST', '/restapi/oauth/token', 'Auth'],
      ['post', 'https://platform.ringcentral.com/restapi/oauth/revoke', 'Auth'],
    ];
    for (const [method, path, group] of cases)
      assert.equal(groupFor(method, path), group, `${method} ${path}`);
  });

  it('prefers literal segments over parameters and handles odd paths', () => {
    assert.equal(lookupGroup('GET', '/restapi/v1.0/account/~/extension/~/greeting/hold-music'), 'Medium');
    assert.equal(lookupGroup('GET', '/restapi/v1.0/account/~/extension/~/'), 'Light');
    assert.equal(lookupGroup('GET', '/restapi/oauth/jwks'), 'NoThrottling');
    assert.equal(groupFor('GET', '/restapi/oauth/jwks'), 'Light');
    assert.equal(lookupGroup('GET', '/restapi/v1.0/no-such-thing'), undefined);
    assert.equal(
      groupFor('GET', '/restapi/v1.0/no-such-thing'),
      'Heavy',
      'unknown operations count as Heavy',
    );
    assert.equal(groupFor('PATCH', '/restapi/v1.0/account/~/call-log'), 'Heavy');
    assert.equal(pathOf('https://media.example.com:443/a/b/?x=1#y'), '/a/b');
    assert.equal(pathOf('restapi/v1.0/account/~'), '/restapi/v1.0/account/~');
  });

  it("matches every operation of RingCentral's table to its group", (t) => {
    const tsv = TSV_CANDIDATES.find((p) => existsSync(p));
    if (!tsv) return t.skip('rc-operations-throttling.tsv not available');
    const lines = readFileSync(tsv, 'utf8').split(/\r?\n/).filter(Boolean);
    const head = lines.shift()?.split('\t') ?? [];
    const [m, p, g] = ['method', 'path', 'throttlingGroup'].map((c) => head.indexOf(c));
    let checked = 0;
    for (const line of lines) {
      const cells = line.split('\t');
      const path = cells[p].replace(/\{[^}]+\}/g, (_, i: number) => `x${i}`);
      assert.equal(lookupGroup(cells[m], path), cells[g] || 'NoThrottling', `${cells[m]} ${cells[p]}`);
      checked++;
    }
    assert.ok(checked > 500);
  });
});
