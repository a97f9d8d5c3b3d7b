import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', '.tap/', 'data/', 'bench/report.html'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Conformance suites walk Go's JSON vectors, whose shapes vary per table.
    files: ['test/conformance/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
