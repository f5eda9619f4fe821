import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import {
  DEFAULT_TEMPLATE,
  MAX_SEGMENT_BYTES,
  PLACEHOLDER_NAMES,
  extensionFor,
  renderPath,
  sanitizeSegment,
  sidecarPathFor,
  validateTemplate,
} from '../../lib/template';

function item(overrides: Partial<ArchiveItem> = {}): ArchiveItem {
  return {
    key: 'CallRecording:9876',
    kind: 'CallRecording',
    accountId: '111',
    extensionId: '222',
    extensionNumber: '101',
    ownerName: 'Alice Smith',
    from: '+16505550100',
    to: ['+16505550199', '+16505550198'],
    direction: 'Inbound',
    createdAt: '2024-05-01T03:45:01.500Z',
    fileName: '9876.mp3',
    contentType: 'audio/mpeg',
    content: { uri: 'https://media.example/recording/9876/content' },
    record: { id: 'callLog-55', sessionId: '1' },
    rc: 'rc1',
    ...overrides,
  };
}

function segments(path: string): string[] {
  return path.split('/');
}

describe('renderPath', () => {
  it('renders the default layout of RingCentral Archiver with the zone and the id, without phone numbers', () => {
    const path = renderPath(DEFAULT_TEMPLATE, item());
    assert.equal(
      path,
      'RingCentral Archiver/Alice Smith_101/2024-05-01/Call Recordings/2024-05-01_034501UTC_Inbound_9876.mp3',
    );
    assert.doesNotMatch(path, /6505550/);
    assert.equal(validateTemplate(DEFAULT_TEMPLATE), undefined);
  });

  it('names each kind’s folder', () => {
    const folders = {
      CallRecording: 'Call Recordings',
      CallLog: 'Call Log',
      Voicemail: 'Voicemail',
      Fax: 'Fax',
      SMS: 'SMS',
      MMS: 'MMS',
      TeamMessagingExport: 'Team Messaging',
    } as const;
    for (const [kind, folder] of Object.entries(folders)) {
      assert.equal(
        renderPath('{kindFolder}/{kind}_{id}', item({ kind: kind as ArchiveItem['kind'] })),
        `${folder}/${kind}_9876`,
      );
    }
  });

  it('renders every placeholder', () => {
    const template = PLACEHOLDER_NAMES.map((n) => `{${n}}`).join(' ');
    const path = renderPath(`${template} {id}`, item(), { timeZone: 'Europe/Berlin' });
    assert.equal(
      path,
      'Alice Smith 101 222 111 CallRecording Call Recordings 2024 05 01 05 45 01 2024-05-01 054501 +0200 ' +
        'Inbound +16505550100 +16505550199 9876 CallRecording_9876 callLog-55 9876 mp3 9876',
    );
  });

  it('renders dates in the given time zone', () => {
    // 03:45 UTC on 1 May is 23:45 on 30 April in New York (EDT, -0400).
    const template = '{date}/{yyyy}{MM}{dd}_{HH}{mm}{ss}{tz}_{id}';
    assert.equal(renderPath(template, item()), '2024-05-01/20240501_034501UTC_9876');
    assert.equal(renderPath(template, item(), { timeZone: 'UTC' }), '2024-05-01/20240501_034501UTC_9876');
    assert.equal(renderPath(template, item(), { timeZone: 'Etc/UTC' }), '2024-05-01/20240501_034501UTC_9876');
    assert.equal(
      renderPath(template, item(), { timeZone: 'America/New_York' }),
      '2024-04-30/20240430_234501-0400_9876',
    );
    // Winter: EST is -0500; India has a half-hour offset; midnight is 00, not 24.
    assert.equal(
      renderPath(template, item({ createdAt: '2024-01-15T05:00:00Z' }), { timeZone: 'America/New_York' }),
      '2024-01-15/20240115_000000-0500_9876',
    );
    assert.equal(
      renderPath(template, item(), { timeZone: 'Asia/Kolkata' }),
      '2024-05-01/20240501_091501+0530_9876',
    );
    assert.equal(
      renderPath(template, item(), { timeZone: 'Europe/London' }),
      '2024-05-01/20240501_044501+0100_9876',
    );
  });

  it('throws a clear error for an unknown time zone', () => {
    assert.throws(
      () => renderPath(DEFAULT_TEMPLATE, item(), { timeZone: 'Mars/Olympus' }),
      /unknown time zone "Mars\/Olympus"/,
    );
  });

  it('keeps hostile values inside one sanitised segment', () => {
    const hostile = item({
      ownerName: '../../etc/passwd',
      extensionNumber: '/etc/passwd',
      direction: 'a:b*c?' as ArchiveItem['direction'],
      key: 'CallRecording:..',
    });
    const path = renderPath(DEFAULT_TEMPLATE, hostile);
    const parts = segments(path);
    assert.equal(parts.length, 5, path);
    assert.equal(parts[1], '.._.._etc_passwd__etc_passwd');
    assert.equal(parts[4], '2024-05-01_034501UTC_a_b_c__...mp3');
    assert.ok(!parts.includes('..') && !parts.includes('.') && !parts.includes(''));

    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: '..' })), '_/9876');
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: '/' })), '_/9876');
    assert.equal(
      renderPath('{ownerName}/{id}', item({ ownerName: '\\\\server\\share' })),
      '__server_share/9876',
    );
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: 'C:\\Windows' })), 'C__Windows/9876');
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: 'CON' })), '_CON/9876');
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: 'nul.txt' })), '_nul.txt/9876');
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: 'lpt1' })), '_lpt1/9876');
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: 'CONSOLE' })), 'CONSOLE/9876');
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: 'a<b>c"d|e' })), 'a_b_c_d_e/9876');
    assert.equal(
      renderPath('{ownerName}/{id}', item({ ownerName: 'tab\there\nnew\u0000' })),
      'tab_here_new_/9876',
    );
    assert.equal(renderPath('{ownerName}/{id}', item({ ownerName: '  name. . ' })), 'name/9876');
    assert.equal(
      renderPath('{ownerName}/{id}', item({ ownerName: 'evil\u202Egpj.exe' })),
      'evil_gpj.exe/9876',
    );
  });

  it('caps long segments in UTF-8 bytes without cutting a character and keeps the extension', () => {
    const long = renderPath('{ownerName}/{ownerName}_{id}.{ext}', item({ ownerName: 'n'.repeat(500) }));
    const [folder, file] = segments(long);
    assert.equal(Buffer.byteLength(folder), MAX_SEGMENT_BYTES);
    assert.ok(file.endsWith('.mp3'));
    assert.ok(Buffer.byteLength(file) <= MAX_SEGMENT_BYTES);

    const emoji = '👩‍👩‍👧‍👦'; // one grapheme, 25 bytes
    const rendered = renderPath('{ownerName}/{id}', item({ ownerName: `Zoë ${emoji.repeat(20)}` }));
    const [capped] = segments(rendered);
    assert.ok(Buffer.byteLength(capped) <= MAX_SEGMENT_BYTES);
    assert.ok(!capped.includes('\uFFFD'));
    assert.equal(Buffer.from(capped, 'utf8').toString('utf8'), capped);
    const tail = capped.slice('Zoë '.length);
    assert.equal(tail, emoji.repeat(tail.length / emoji.length), 'whole emoji only');
    assert.ok(tail.length > 0);
  });

  it('renders unknown for missing values and dates', () => {
    const bare = item({
      ownerName: undefined,
      extensionNumber: '',
      direction: undefined,
      to: [],
      from: undefined,
    });
    assert.equal(
      renderPath(DEFAULT_TEMPLATE, bare),
      'RingCentral Archiver/unknown_unknown/2024-05-01/Call Recordings/2024-05-01_034501UTC_unknown_9876.mp3',
    );
    assert.equal(
      renderPath('{from}_{to}_{callId}/{id}', item({ from: undefined, to: undefined, record: null })),
      'unknown_unknown_unknown/9876',
    );
    assert.equal(
      renderPath('{date}_{time}{tz}/{id}', item({ createdAt: 'not a date' })),
      'unknown_unknownunknown/9876',
    );
  });

  it('takes the extension from the option, the Content-Type or the file name', () => {
    const t = '{id}.{ext}';
    assert.equal(renderPath(t, item(), { extension: 'wav' }), '9876.wav');
    assert.equal(renderPath(t, item(), { extension: '.WAV' }), '9876.wav');
    assert.equal(renderPath(t, item({ contentType: 'audio/x-wav' })), '9876.wav');
    assert.equal(
      renderPath(t, item({ contentType: 'application/x-unknown', fileName: 'fax.PDF' })),
      '9876.pdf',
    );
    assert.equal(
      renderPath(t, item({ contentType: 'application/x-unknown', fileName: 'noext' })),
      '9876.bin',
    );
    assert.equal(renderPath(t, item({ key: 'no-colon' })), 'no-colon.mp3');
  });

  it('refuses to render with an invalid template', () => {
    assert.throws(() => renderPath('/abs/{id}', item()), /invalid path template "\/abs\/\{id\}": .*relative/);
  });
});

describe('validateTemplate', () => {
  it('accepts good templates', () => {
    assert.equal(validateTemplate('{kindFolder}/{yyyy}/{MM}/{id}.{ext}'), undefined);
    assert.equal(validateTemplate('calls/{from}-{to}_{key}'), undefined);
  });

  it('explains what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['   ', /empty/],
      ['a/{nope}/{id}', /unknown placeholder \{nope\}.*\{ownerName\}/],
      ['a/{ID}', /unknown placeholder \{ID\}/],
      ['/root/{id}', /relative/],
      ['C:/x/{id}', /relative/],
      ['~/x/{id}', /relative/],
      ['a/../{id}', /"\.\."/],
      ['./{id}', /"\."/],
      ['a//{id}', /empty folder/],
      ['a/{id}/', /empty folder/],
      ['a\\{id}', /backslash/],
      ['a/{id', /unbalanced/],
      ['a/id}', /unbalanced/],
      ['a/{date}.{ext}', /needs \{id\} or \{key\}/],
      ['a\u0000/{id}', /control/],
    ];
    for (const [template, expected] of cases) {
      assert.match(validateTemplate(template) ?? 'accepted', expected, template);
    }
  });
});

describe('extensionFor', () => {
  it('maps the Content-Types RingCentral sends', () => {
    const cases: Record<string, string> = {
      'audio/mpeg': 'mp3',
      'audio/mp3': 'mp3',
      'audio/wav': 'wav',
      'audio/x-wav': 'wav',
      'audio/wave': 'wav',
      'application/pdf': 'pdf',
      'image/tiff': 'tif',
      'text/plain': 'txt',
      'application/json': 'json',
      'image/png': 'png',
      'image/jpeg': 'jpg',
      'image/gif': 'gif',
      'video/mp4': 'mp4',
      'text/vcard': 'vcf',
      'Audio/MPEG; charset=binary': 'mp3',
      ' text/plain ;charset=utf-8': 'txt',
      'application/x-whatever': 'bin',
      '': 'bin',
    };
    for (const [type, ext] of Object.entries(cases)) assert.equal(extensionFor(type), ext, type);
  });
});

describe('sanitizeSegment and sidecarPathFor', () => {
  it('never yields an empty, dot or dot-dot segment', () => {
    for (const text of ['', ' ', '.', '..', '...', ' . ', '/', '\\']) {
      const s = sanitizeSegment(text);
      assert.ok(s !== '' && s !== '.' && s !== '..', JSON.stringify(text));
      assert.ok(!/[\\/]/.test(s));
    }
    assert.equal(sanitizeSegment('Cafe\u0301'), 'Café', 'NFC');
  });

  it('puts the sidecar beside the file', () => {
    assert.equal(sidecarPathFor('a/b/x.mp3'), 'a/b/x.mp3.json');
  });
});
