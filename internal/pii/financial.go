package pii

import "strings"

// ---- India UPI virtual payment addresses ----

// upiHandles are the PSP handles (the part after '@') of UPI virtual payment addresses, from the NPCI list of live
// third-party apps and banks: PhonePe, Google Pay, Paytm, Amazon Pay, BHIM, WhatsApp, CRED, MobiKwik and the banks'
// own apps. Words that are also common host or user names are left out (see README).
var upiHandles = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range []string{
		"upi", "ybl", "ibl", "axl", // BHIM, PhonePe
		"okhdfcbank", "okicici", "oksbi", "okaxis", // Google Pay
		"paytm", "ptyes", "ptaxis", "pthdfc", "ptsbi", // Paytm
		"apl", "yapl", "rapl", // Amazon Pay
		"waicici", "wahdfcbank", "waaxis", "wasbi", // WhatsApp
		"axisb", "ikwik", "freecharge", "jupiteraxis", "naviaxis", "sliceaxis", "timecosmos", "abfspay",
		"yesbank", "yesbankltd", "yesg", "sbi", "icici", "hdfcbank", "hdfcbankjd", "axisbank", "kotak", "kmbl",
		"pnb", "barodampay", "mahb", "cnrb", "boi", "unionbank", "uboi", "unionbankofindia", "idbi", "idbibank",
		"idfcbank", "idfcfirst", "indus", "fbl", "federal", "rbl", "aubank", "dbs", "citi", "citigold", "hsbc",
		"scb", "jkb", "kvb", "kbl", "tjsb", "iob", "indianbank", "centralbank", "cbin", "ucobank", "dlb",
		"equitas", "esaf", "utkarshbank", "airtel", "jio", "pingpay", "postbank", "dbsbank", "bandhan",
	} {
		m[h] = true
	}
	return m
}()

// upi records local@handle (the handle ends at j, already known to be one dot-free label) as a UPI virtual payment
// address when the handle is a known PSP handle. Emails need a dotted domain, so the two never compete for a value.
func (sc *scanner) upi(start, at, j int) {
	s := sc.s
	h := s[at+1 : j]
	if len(h) < 2 || len(h) > 16 || (j < len(s) && (isWordByte(s[j]) || s[j] == '-' || s[j] == '@')) {
		return
	}
	var buf [16]byte
	for k := 0; k < len(h); k++ {
		if !isAlpha(h[k]) {
			return
		}
		buf[k] = lower(h[k])
	}
	if !upiHandles[string(buf[:len(h)])] {
		return
	}
	sc.add(TypeUPIVPA, start, j)
}

// ---- Indonesia NPWP ----

// npwpDigits validates the 15 digits of an NPWP (the old form, or the new 16-digit form without its leading 0):
// the Luhn check digit over the first 9 digits and a non-zero 6-digit taxpayer serial.
func npwpDigits(d string) bool {
	return len(d) == 15 && luhn([]byte(d[:9])) && d[2:8] != "000000"
}

// npwp validates the formatted NPWP 99.999.999.9-999.999 whose first digit run (2 digits) starts at i.
func (sc *scanner) npwp(i int) {
	s := sc.s
	const shape = "dd.ddd.ddd.d-ddd.ddd"
	if i+len(shape) > len(s) {
		return
	}
	var d [15]byte
	n := 0
	for k := 0; k < len(shape); k++ {
		c := s[i+k]
		if shape[k] == 'd' {
			if !isDigit(c) {
				return
			}
			d[n] = c
			n++
		} else if c != shape[k] {
			return
		}
	}
	end := i + len(shape)
	if end < len(s) && (isWordByte(s[end]) || ((s[end] == '.' || s[end] == '-') && end+1 < len(s) && isDigit(s[end+1]))) {
		return
	}
	if npwpDigits(string(d[:])) {
		sc.add(TypeNPWP, i, end)
	}
}

// npwpPlain validates an unformatted NPWP digit run s[i:j]: 16 digits starting with 0 (the form since 2024 for
// non-individuals; an individual's 16-digit NPWP is the NIK and is reported as nik) or 15 digits (the old form),
// only when "npwp" appears in the 32 bytes before it: bare digit runs (span ids such as 0001020304050607, counters)
// pass a one-digit check too often.
func (sc *scanner) npwpPlain(i, j int) {
	s := sc.s
	d := s[i:j]
	if len(d) == 16 {
		if d[0] != '0' {
			return
		}
		d = d[1:]
	}
	if len(d) != 15 || !npwpDigits(d) {
		return
	}
	ctx := s[max(0, i-32):i]
	for k := 0; k+4 <= len(ctx); k++ {
		if strings.EqualFold(ctx[k:k+4], "npwp") {
			sc.add(TypeNPWP, i, j)
			return
		}
	}
}
