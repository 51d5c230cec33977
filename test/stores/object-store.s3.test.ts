import { S3ObjectStore } from '../../src/stores/object/s3-object-store.js';
import { objectStoreContract } from '../contract/object-store.contract.js';
import { clusterConfig, uniqueName } from '../helpers/env.js';

objectStoreContract({
  name: 'S3 (minio client against a real S3 server)',
  create: async () => {
    const config = clusterConfig({ S3_BUCKET: uniqueName('bucket').replace(/_/g, '-') });
    if (config.objects.mode !== 's3') throw new Error('S3_ENDPOINT is not set');
    return new S3ObjectStore(config.objects);
  },
});
