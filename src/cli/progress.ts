/** A progress line on stderr for long scans; silent when stderr is not a terminal. */
export class Progress {
  private n = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly total: number,
    private readonly label: string,
  ) {}

  tick(): void {
    this.n++;
    if (!this.tty || (this.n % 10 !== 0 && this.n !== this.total)) return;
    const width = 30;
    const filled = this.total ? Math.round((this.n / this.total) * width) : width;
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.n}/${this.total}`,
    );
  }

  /** Prints a line above the bar. */
  note(line: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${line}\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}
