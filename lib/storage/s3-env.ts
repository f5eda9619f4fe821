/**
 * The environment fallback of an S3 bucket config: an empty field takes its variable, so that a
 * flow (the write-once example) deploys unchanged with the bucket and keys set outside it.
 */
export interface S3Fields {
  bucket?: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

/** The variables, by the field each fills; the AWS_* names are the ones AWS's own tools read. */
export const S3_ENV = {
  bucket: 'S3_BUCKET',
  prefix: 'S3_PREFIX',
  region: 'S3_REGION',
  endpoint: 'S3_ENDPOINT',
  forcePathStyle: 'S3_FORCE_PATH_STYLE',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  sessionToken: 'AWS_SESSION_TOKEN',
} as const;

export function s3FieldsFromEnv(fields: S3Fields, env: NodeJS.ProcessEnv = process.env): S3Fields {
  const text = (key: Exclude<keyof S3Fields, 'forcePathStyle'>) =>
    fields[key]?.trim() || env[S3_ENV[key]]?.trim() || undefined;
  return {
    bucket: text('bucket'),
    prefix: text('prefix'),
    region: text('region'),
    endpoint: text('endpoint'),
    forcePathStyle:
      fields.forcePathStyle === true || /^(1|true|yes)$/i.test(env[S3_ENV.forcePathStyle]?.trim() ?? ''),
    accessKeyId: text('accessKeyId'),
    secretAccessKey: text('secretAccessKey'),
    sessionToken: text('sessionToken'),
  };
}
