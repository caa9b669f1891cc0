// Personal data kept out of logs: phone numbers inside logged values (a platform call id can
// embed the caller's number) are masked to the country code and the last three digits.

// Not inside a longer word (a uuid segment or an order code is not a phone number).
const phoneLike = /(?<![A-Za-z0-9])\+?\d[\d\s().-]{5,}\d(?![A-Za-z0-9])/g;

/**
 * "+31612345678" -> "+31*******678". Always seven stars, so the mask does not tell the length;
 * runs of fewer than 7 digits are left alone.
 */
export function maskPhoneNumbers(text: string): string {
  return text.replace(phoneLike, (run) => {
    const digits = run.replace(/\D/g, '');
    if (digits.length < 7) return run;
    return `${run.startsWith('+') ? '+' : ''}${digits.slice(0, 2)}*******${digits.slice(-3)}`;
  });
}
