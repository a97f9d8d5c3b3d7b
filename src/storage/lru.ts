/** A least-recently-used map bounded by a byte budget (each entry states its own weight). */
export class ByteLru<V> {
  private readonly map = new Map<string, { value: V; weight: number }>();
  private used = 0;

  constructor(private readonly budget: number) {}

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.used;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V, weight: number): void {
    if (weight > this.budget) return;
    this.delete(key);
    this.map.set(key, { value, weight });
    this.used += weight;
    for (const [k, e] of this.map) {
      if (this.used <= this.budget) break;
      this.map.delete(k);
      this.used -= e.weight;
    }
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.used -= e.weight;
  }
}
