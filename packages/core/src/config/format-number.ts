/**
 * C's `printf("%.14g", x)`, which is how LuaJIT writes a number into a string buffer and so
 * how Kong's config hash sees numbers. JavaScript's `toExponential` rounds an exact tie away
 * from zero where C rounds it to even (123456789012345 is `1.2345678901234e+14` in C), so ties
 * are detected and rounded exactly from the double's full decimal expansion.
 */
export function formatNumberG14(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e14) {
    return Object.is(x, -0) ? '-0' : String(x);
  }
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const negative = x < 0 || Object.is(x, -0);
  const [digits, exponent] = significand14(Math.abs(x));
  return (negative ? '-' : '') + layoutG(digits, exponent);
}

const PRECISION = 14;

/** The 14 significant digits of `x` (> 0) rounded half-to-even, and its decimal exponent. */
function significand14(x: number): [string, number] {
  // toExponential(14) shows 15 significant digits; an exact tie at 14 needs those 15 to be
  // the whole exact value, ending in 5. Otherwise toExponential(13) already rounds correctly.
  const wider = x.toExponential(PRECISION);
  if (wider[PRECISION + 1] !== '5') return splitExponential(x.toExponential(PRECISION - 1));
  const [exact, exactExponent] = exactDecimal(x);
  if (exact.length !== PRECISION + 1 || exact[PRECISION] !== '5') {
    return splitExponential(x.toExponential(PRECISION - 1));
  }
  // An exact tie: keep the first 14 digits when the last kept digit is even, else round up.
  const kept = exact.slice(0, PRECISION);
  if (Number(kept[PRECISION - 1]) % 2 === 0) return [kept, exactExponent];
  const rounded = (BigInt(kept) + 1n).toString();
  return rounded.length > PRECISION
    ? [rounded.slice(0, PRECISION), exactExponent + 1]
    : [rounded, exactExponent];
}

function splitExponential(text: string): [string, number] {
  const e = text.indexOf('e');
  return [text.slice(0, e).replace('.', ''), Number(text.slice(e + 1))];
}

/**
 * Every significant digit of the double `x` (> 0), without trailing zeros, and the decimal
 * exponent of the first one: x = 0.d1d2d3… × 10^(exponent + 1).
 */
function exactDecimal(x: number): [string, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const biased = (high >>> 20) & 0x7ff;
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  let power: number;
  if (biased === 0) {
    power = -1074;
  } else {
    mantissa |= 1n << 52n;
    power = biased - 1075;
  }
  let digits: string;
  let exponent: number;
  if (power >= 0) {
    digits = (mantissa << BigInt(power)).toString();
    exponent = digits.length - 1;
  } else {
    digits = (mantissa * 5n ** BigInt(-power)).toString();
    exponent = digits.length - 1 + power;
  }
  return [digits.replace(/0+$/, ''), exponent];
}

/** `%g` layout of 14 significant `digits` with decimal `exponent`, trailing zeros removed. */
function layoutG(digits: string, exponent: number): string {
  if (exponent < -4 || exponent >= PRECISION) {
    const mantissa = trimFraction(`${digits[0]}.${digits.slice(1)}`);
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return trimFraction(`0.${'0'.repeat(-exponent - 1)}${digits}`);
  return trimFraction(`${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`);
}

function trimFraction(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
