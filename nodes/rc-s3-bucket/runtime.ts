import { S3_BUCKET } from '../../lib/node-defaults';
import { S3Storage } from '../../lib/storage/s3';
import { s3FieldsFromEnv } from '../../lib/storage/s3-env';
import { provideStorage } from '../shared/account';
import { translator, type Translate } from '../shared/i18n';
import type { Node, NodeDef, RED } from '../shared/red';
import { registerStorageTest } from '../shared/storage-test-route';
import catalog from './locales/en-US/rc-s3-bucket.json';

interface S3BucketDef extends NodeDef {
  bucket?: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  storageClass?: string;
  objectLockMode?: '' | 'GOVERNANCE' | 'COMPLIANCE';
  objectLockDays?: string | number;
  legalHold?: boolean;
}

interface S3Credentials {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  [key: string]: string | undefined;
}

/** The adapter of a bucket's settings (deployed, or a dialog's for its Test button). */
function s3Storage(def: S3BucketDef, credentials: S3Credentials, t: Translate): S3Storage {
  // Empty fields take S3_BUCKET, S3_REGION, AWS_ACCESS_KEY_ID and the like.
  const fields = s3FieldsFromEnv({ ...def, ...credentials });
  const { bucket, accessKeyId, secretAccessKey, sessionToken } = fields;
  if (!bucket) throw new Error(t('rc-s3-bucket.errors.noBucket'));
  if (!accessKeyId || !secretAccessKey) throw new Error(t('rc-s3-bucket.errors.noKeys'));
  const days = Number(def.objectLockDays);
  if (def.objectLockMode && !(Number.isInteger(days) && days > 0)) {
    throw new Error(t('rc-s3-bucket.errors.lockDays'));
  }
  return new S3Storage({
    bucket,
    prefix: fields.prefix,
    region: fields.region || S3_BUCKET.whenEmpty.region,
    endpoint: fields.endpoint,
    forcePathStyle: !!fields.forcePathStyle,
    accessKeyId,
    secretAccessKey,
    sessionToken,
    storageClass: (typeof def.storageClass === 'string' && def.storageClass.trim()) || undefined,
    objectLock: def.objectLockMode ? { mode: def.objectLockMode, days } : undefined,
    legalHold: !!def.legalHold,
  });
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function S3Bucket(this: Node<S3Credentials>, def: S3BucketDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => s3Storage(def, this.credentials, t));
  }
  RED.nodes.registerType('rc-s3-bucket', S3Bucket, {
    credentials: {
      accessKeyId: { type: 'text' },
      secretAccessKey: { type: 'password' },
      sessionToken: { type: 'password' },
    },
  });
  registerStorageTest(
    RED,
    'rc-s3-bucket',
    ['accessKeyId', 'secretAccessKey', 'sessionToken'],
    (settings, credentials) => s3Storage(settings as S3BucketDef, credentials, t),
  );
}
