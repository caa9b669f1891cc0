// Personal data kept out of logs: every run of 7+ digits that could be a phone number (a platform
// call id can embed the caller's number) is masked to at most its country code and last 3 digits;
// without "+" or "00" the country code is unknown, so only the last 3 digits stay.

// Not inside a longer word (the digits of an order code like A1234567 are not a phone number).
// "%2B" is a "+" URL-encoded, as a number appears in a logged request path.
const phoneLike = /(?<![A-Za-z0-9])(?:\+|%2[Bb])?\d[\d\s().-]{5,}\d(?![A-Za-z0-9])/;
// The same run without the look-arounds: a much cheaper scan that rules out most logged strings.
const digitRun = /\d[\d\s().-]{5,}\d/;

// Runs the pattern above also matches that are useful to operators and are not phone numbers:
// an IPv4 address (an upstream in an error detail), a calendar date with or without an hour, and
// the all-digit groups of a uuid (a delivery id one would copy into `events retry`).
const ipv4Like = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const dateLike = /^(?:19|20)\d\d-[01]\d-[0-3]\d(?: [0-2]\d)?$/;
const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const hexOrDash = /[0-9a-f-]/i;

// E.164 country codes are 1 digit (1, 7), 2 digits (the second digits listed here per first
// digit: 20, 27, 30-34, 36, 39, ...), or else 3 digits. Knowing the length keeps "+1 555…" from
// showing the area code's first digit.
const twoDigitCodeSecondDigits = ['', '', '07', '0123469', '013456789', '12345678', '0123456', '', '1246', '0123458'];

function countryCodeLength(digits: string): number {
  const first = digits.charCodeAt(0) - 48;
  if (first === 1 || first === 7) return 1;
  return twoDigitCodeSecondDigits[first]?.includes(digits.charAt(1)) === true ? 2 : 3;
}

function isIpv4(run: string): boolean {
  return run.includes('.') && ipv4Like.test(run) && run.split('.').every((octet) => Number(octet) <= 255);
}

function isInsideUuid(text: string, start: number, end: number): boolean {
  while (start > 0 && hexOrDash.test(text.charAt(start - 1))) start--;
  while (end < text.length && hexOrDash.test(text.charAt(end))) end++;
  return end - start === 36 && uuidLike.test(text.slice(start, end));
}

function maskRun(run: string): string {
  const encodedPlus = /^%2B/i.test(run);
  const digits = (encodedPlus ? run.slice(3) : run).replace(/\D/g, '');
  if (digits.length < 7 || isIpv4(run) || (run.includes('-') && dateLike.test(run))) return run;
  // Always seven stars, so the mask does not tell the length.
  if (run.startsWith('+') || encodedPlus) return `${encodedPlus ? run.slice(0, 3) : '+'}${digits.slice(0, countryCodeLength(digits))}*******${digits.slice(-3)}`;
  if (digits.startsWith('00')) return `00${digits.slice(2, 2 + countryCodeLength(digits.slice(2)))}*******${digits.slice(-3)}`;
  return `*******${digits.slice(-3)}`;
}

/**
 * "+31612345678" -> "+31*******678", "+1 (555) 010-9999" -> "+1*******999",
 * "0031612345678" -> "0031*******678", "0612345678" -> "*******678". Idempotent, and a string
 * with no 7-digit run comes back as the same string.
 */
export function maskPhoneNumbers(text: string): string {
  // This runs on every logged string: most are names, ids and sentences without a digit run.
  if (text.length < 7 || !digitRun.test(text)) return text;
  // exec() over what is left rather than replace() with a callback, which is several times slower.
  let masked = '';
  let done = 0;
  for (let match = phoneLike.exec(text); match !== null; match = phoneLike.exec(text.slice(done))) {
    const start = done + match.index;
    const end = start + match[0].length;
    masked += text.slice(done, start) + (isInsideUuid(text, start, end) ? match[0] : maskRun(match[0]));
    done = end;
  }
  return done === 0 ? text : masked + text.slice(done);
}
