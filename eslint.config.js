import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', '.tap/', 'data/', 'bench/report.html'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // tap removes a t.testdir() folder before the teardowns registered after it,
    // while a server the test started may still write into it.
    files: ['test/**'],
    ignores: ['test/helpers/testdir.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='testdir']",
          message:
            'Use testdir(t) from test/helpers/testdir.ts: it removes the folder after the teardowns.',
        },
      ],
    },
  },
  {
    // Conformance suites walk Go's JSON vectors, whose shapes vary per table.
    files: ['test/conformance/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
