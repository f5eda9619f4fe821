import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { s3FieldsFromEnv } from '../../lib/storage/s3-env';

const env = {
  S3_BUCKET: 'from-env',
  S3_REGION: 'eu-west-1',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_FORCE_PATH_STYLE: 'true',
  AWS_ACCESS_KEY_ID: 'AKIAENV',
  AWS_SECRET_ACCESS_KEY: 'env-secret',
};

describe('S3 bucket config from the environment', () => {
  it('empty fields take the variables', () => {
    assert.deepEqual(s3FieldsFromEnv({ bucket: '', region: ' ', endpoint: '', prefix: 'Archive/' }, env), {
      bucket: 'from-env',
      prefix: 'Archive/',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      accessKeyId: 'AKIAENV',
      secretAccessKey: 'env-secret',
      sessionToken: undefined,
    });
  });

  it('a filled field wins over its variable', () => {
    const fields = s3FieldsFromEnv(
      { bucket: 'mine', region: 'us-west-2', accessKeyId: 'AKIAMINE', secretAccessKey: 'mine' },
      env,
    );
    assert.equal(fields.bucket, 'mine');
    assert.equal(fields.region, 'us-west-2');
    assert.equal(fields.accessKeyId, 'AKIAMINE');
    assert.equal(fields.secretAccessKey, 'mine');
  });

  it('without fields or variables nothing is made up', () => {
    const fields = s3FieldsFromEnv({}, {});
    assert.equal(fields.bucket, undefined);
    assert.equal(fields.region, undefined);
    assert.equal(fields.forcePathStyle, false);
    assert.equal(fields.accessKeyId, undefined);
  });
});
