// `npm test`'s ava configuration: runs the test files compiled to JavaScript by scripts/build-tests.mjs, without
// tsx: the mirror in UNWRAPD_TEST_BUILD_DIR (`npm test` builds its own, .test-build/run-<pid>/), else the one a
// plain `node scripts/build-tests.mjs` builds (.test-build/manual/). `npx ava test/x.test.ts` runs the sources
// through tsx instead, with the configuration in package.json ("ava"); both run the same tests.
const dir = process.env.UNWRAPD_TEST_BUILD_DIR ?? '.test-build/manual';

export default {
  files: [`${dir}/test/**/*.test.js`],
  nodeArguments: ['--enable-source-maps'],
  workerThreads: false,
  require: [`./${dir}/test/helpers/setup.js`],
  timeout: '300s',
  concurrency: 3,
};
