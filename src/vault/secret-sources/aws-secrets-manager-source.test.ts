import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import {
  type AwsSecretsManagerClientLike,
  createAwsSecretsManagerSource,
} from './aws-secrets-manager-source.js';

describe('createAwsSecretsManagerSource', () => {
  it("accepts the SDK's own client type (checked by tsc) and names itself without credentials", () => {
    const client: AwsSecretsManagerClientLike = new SecretsManagerClient({ region: 'eu-west-1' });
    const source = createAwsSecretsManagerSource({ client, region: 'eu-west-1' });
    expect(source.name).toBe('aws-sm(eu-west-1)');
    (client as SecretsManagerClient).destroy();
    const withKeys = createAwsSecretsManagerSource({
      endpoint: 'http://127.0.0.1:4566',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'never-in-a-name-0123456789' },
    });
    expect(withKeys.name).toBe('aws-sm(127.0.0.1:4566)');
    expect(() => createAwsSecretsManagerSource({ endpoint: 'not a url' })).toThrow(/endpoint/);
  });
});
