declare module 'spdx-satisfies' {
  /** Whether an SPDX expression is satisfied by a list of approved ids (spdx-satisfies). */
  function satisfies(expression: string, approved: string[]): boolean;
  export default satisfies;
}
