/** Test access to the sample server that `modgate demo` also runs. */
export * from '../../src/demo/txtar.js';
