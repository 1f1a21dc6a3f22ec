// @ts-check
// ESLint for the whole repository, with typescript-eslint's type-aware rules. The extension host
// lives as long as the VS Code window, so a promise nobody awaits or catches is a silent failure
// (or an unhandled rejection) hours later: the promise rules are errors everywhere, tests included.
//
// typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 (the native port) does not
// have: the package named `typescript` is the 6.0 line (its compiler API serves the linter), and
// `typescript-native` is TypeScript 7, which `npm run typecheck` runs. Both read the same tsconfigs.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', '.bench/', 'scratch/', '.vscode-test/', '**/*.vsix']),

  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,

  {
    languageOptions: {
      // Every file is linted with the tsconfig nearest to it (src/sandbox has its own, for the
      // node the task image ships). The two root scripts belong to no tsconfig: they get a default
      // project with the root compiler options.
      parserOptions: {
        projectService: { allowDefaultProject: ['esbuild.mjs', 'eslint.config.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { ...globals.node },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
      reportUnusedInlineConfigs: 'error',
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        checkThenables: true,
        // node:test's test() and describe() return promises that the runner itself tracks.
        allowForKnownSafeCalls: [
          { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
        ],
      }],
      '@typescript-eslint/no-misused-promises': ['error', {
        checksVoidReturn: true,
        checksConditionals: true,
        checksSpreads: true,
      }],
      '@typescript-eslint/await-thenable': 'error',
      // Off: an `async` function without `await` is how this code makes a throw into a rejection
      // for callers that only `.catch()` (interface methods returning Promise, engine wrappers).
      // Satisfying the rule means deleting `async`, which turns those throws synchronous; the
      // rules above already catch the real mistakes (an unawaited or misplaced promise).
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', {
        args: 'after-used',
        argsIgnorePattern: '^_',
        varsIgnorePattern: '^_',
        caughtErrors: 'all',
        caughtErrorsIgnorePattern: '^_',
        destructuredArrayIgnorePattern: '^_',
        ignoreRestSiblings: true,
      }],
      // `return promise` inside try/catch skips the catch (and finally runs before it settles).
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      // Passing on a reason that arrived as unknown/any (a caught error, signal.reason) is fine;
      // rejecting with a string or a plain object is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Off: matching control characters is what this code does on purpose (escaping text from
      // boxes and repositories, refusing NUL and CR/LF in headers and hosts).
      'no-control-regex': 'off',
      // A comment between two empty cases is documentation, not a forgotten break.
      'no-fallthrough': ['error', { allowEmptyCase: true }],
    },
  },

  {
    // "src/core: no console": front ends decide where text goes.
    files: ['src/core/**'],
    rules: { 'no-console': 'error' },
  },

  {
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },

  {
    // Tests JSON.parse the CLI's and the engine's output and assert on it: that `any` is the data
    // under test, not a boundary, and every use of it would be flagged. test/helpers/ and
    // test/fixtures/ keep the rules: they are the typed boundary every test goes through.
    // Column-aligned output is matched with the spaces as printed.
    files: ['test/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      'no-regex-spaces': 'off',
    },
  },
);
