/**
 * Tenant and policy ids: 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit. Short,
 * printable and safe in logs, paths and metric labels; ASCII, so their UTF-8 length equals their string
 * length (the envelope format relies on it). The one definition: the registry, the envelope codec, the
 * authorization table and the request fields all check ids against it.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
