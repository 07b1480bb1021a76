// `npm test`'s ava configuration: runs the test files compiled to JavaScript by scripts/build-tests.mjs (into
// .test-build/, which `npm test` rebuilds first), without tsx. `npx ava test/x.test.ts` runs the sources
// through tsx instead, with the configuration in package.json ("ava"); both run the same tests.
export default {
  files: ['.test-build/test/**/*.test.js'],
  nodeArguments: ['--enable-source-maps'],
  workerThreads: false,
  require: ['./.test-build/test/helpers/setup.js'],
  timeout: '300s',
  concurrency: 2,
};
