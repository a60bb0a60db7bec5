import type { TelemetryBatch, TelemetryRecord } from '../protocol/messages.ts';

/**
 * Request records as columns: one typed array per number field and, for the names, indexes
 * into one list of the distinct names (`names[index - 1]`; 0 is none). A batch of 10 000
 * records is ten arrays and a few dozen strings instead of 10 000 objects: the DP builds it
 * without allocating per record, it travels as its bytes (planesync/3), and the CP counts it
 * without reading a record object. Internal: `TelemetryBatch.records` stays the public shape.
 */
export class RecordColumns {
  constructor(
    readonly length: number,
    readonly names: readonly string[],
    readonly service: Uint32Array,
    readonly route: Uint32Array,
    readonly consumer: Uint32Array,
    readonly status: Uint16Array,
    readonly latencyMs: Float64Array,
    readonly at: Float64Array,
    /** NaN where the record has none. */
    readonly requestBytes: Float64Array,
    /** NaN where the record has none. */
    readonly responseBytes: Float64Array,
  ) {}

  /** Columns of `length` records, all zeros, over `names` (to be filled in). */
  static allocate(length: number, names: readonly string[]): RecordColumns {
    return new RecordColumns(
      length,
      names,
      new Uint32Array(length),
      new Uint32Array(length),
      new Uint32Array(length),
      new Uint16Array(length),
      new Float64Array(length),
      new Float64Array(length),
      new Float64Array(length),
      new Float64Array(length),
    );
  }

  /** Columns of `records` (checked records: the fields of {@link TelemetryRecord}). */
  static fromRecords(records: readonly TelemetryRecord[]): RecordColumns {
    const length = records.length;
    const names = new NameList();
    const columns = RecordColumns.allocate(length, names.list);
    for (let i = 0; i < length; i++) {
      const record = records[i]!;
      columns.service[i] = names.index(record.service);
      columns.route[i] = names.index(record.route);
      columns.consumer[i] = names.index(record.consumer);
      columns.status[i] = record.status;
      columns.latencyMs[i] = record.latencyMs;
      columns.at[i] = record.at;
      columns.requestBytes[i] = record.requestBytes ?? Number.NaN;
      columns.responseBytes[i] = record.responseBytes ?? Number.NaN;
    }
    return columns;
  }

  /** Record `i` as an object, the fields it does not have left out (as in its JSON). */
  record(i: number): TelemetryRecord {
    const record: TelemetryRecord = {
      status: this.status[i]!,
      latencyMs: this.latencyMs[i]!,
      at: this.at[i]!,
    };
    const service = this.service[i]!;
    const route = this.route[i]!;
    const consumer = this.consumer[i]!;
    const requestBytes = this.requestBytes[i]!;
    const responseBytes = this.responseBytes[i]!;
    if (service !== 0) record.service = this.names[service - 1]!;
    if (route !== 0) record.route = this.names[route - 1]!;
    if (consumer !== 0) record.consumer = this.names[consumer - 1]!;
    if (!Number.isNaN(requestBytes)) record.requestBytes = requestBytes;
    if (!Number.isNaN(responseBytes)) record.responseBytes = responseBytes;
    return record;
  }

  /** Records `from` to `to` (not included) as objects. */
  records(from = 0, to = this.length): TelemetryRecord[] {
    const out = new Array<TelemetryRecord>(Math.max(0, to - from));
    for (let i = from; i < to; i++) out[i - from] = this.record(i);
    return out;
  }
}

/** The distinct names of a batch in first-seen order, each with its index (from 1). */
export class NameList {
  readonly list: string[] = [];
  readonly #index = new Map<string, number>();

  /** The index of `name` (0 for none), added when new. */
  index(name: string | undefined): number {
    if (name === undefined) return 0;
    let index = this.#index.get(name);
    if (index === undefined) {
      index = this.list.push(name);
      this.#index.set(name, index);
    }
    return index;
  }
}

/** Where a batch made by {@link columnBatch} keeps its columns (not part of its JSON). */
const COLUMNS = Symbol('planesync.recordColumns');
/** How many records an object made by {@link withRecords} holds, without making them. */
const COUNT = Symbol('planesync.recordCount');

/**
 * `fields` with `records`: the records of `columns` from `from` on, made (once) only when read
 * — by a protocol that sends JSON, or a host reading the CP's `analytics` event. Writable, as
 * the plain field it stands for (a listener may replace it for the listeners after it).
 */
export function withRecords<T extends object>(
  fields: T,
  columns: RecordColumns,
  from = 0,
): T & { records: TelemetryRecord[] } {
  let records: TelemetryRecord[] | undefined;
  return {
    ...fields,
    get records() {
      records ??= columns.records(from);
      return records;
    },
    set records(value: TelemetryRecord[]) {
      records = value;
    },
    get [COUNT]() {
      return records?.length ?? columns.length - from;
    },
  };
}

/** How many records `value` holds, without making them when it was made by {@link withRecords}. */
export function recordCount(value: { readonly records: readonly unknown[] }): number {
  return (value as { [COUNT]?: number })[COUNT] ?? value.records.length;
}

/**
 * A {@link TelemetryBatch} over `columns`, its records made only when read, while planesync/3
 * sends and counts the columns themselves ({@link columnsOf}).
 */
export function columnBatch(
  meta: Omit<TelemetryBatch, 'records'>,
  columns: RecordColumns,
): TelemetryBatch {
  // Not spread: that would make the records.
  const batch: TelemetryBatch & { [COLUMNS]?: RecordColumns } = withRecords(meta, columns);
  batch[COLUMNS] = columns;
  return batch;
}

/** The columns of `batch`: its own when it has them, else made from its records. */
export function columnsOf(batch: TelemetryBatch): RecordColumns {
  return (
    (batch as { [COLUMNS]?: RecordColumns })[COLUMNS] ?? RecordColumns.fromRecords(batch.records)
  );
}
