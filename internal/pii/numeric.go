package pii

// numeric dispatches a digit run s[i:j] (i is its first digit) to the number-shaped detectors by its length and the
// byte that follows, so most runs (versions, timestamps, ports, counts) are rejected after a comparison or two.
func (sc *scanner) numeric(i, j int) {
	s := sc.s
	n := j - i
	var prev byte
	if i > 0 {
		prev = s[i-1]
	}
	var next byte
	if j < len(s) {
		next = s[j]
	}
	if isUpper(prev) {
		if n >= 2 && i >= 2 && isUpper(s[i-2]) && sc.on(iIBAN) {
			sc.iban(i - 2)
		}
		if n == 4 && i >= 5 && sc.on(iPAN) {
			sc.pan(i - 5)
		}
		return
	}
	if isWordByte(prev) {
		return
	}
	if prev == '+' && sc.on(iPhone) {
		sc.phone(i-1, true)
	}
	if prev == '(' && sc.on(iPhone) {
		sc.phone(i-1, false)
	}
	if prev == '.' || prev == '-' && i >= 2 && isDigit(s[i-2]) {
		return // the tail of a dotted/dashed number already seen from its head
	}
	if next == '.' && j+1 < len(s) && isDigit(s[j+1]) {
		if n <= 3 && sc.on(iIPAddress) {
			sc.ipv4(i)
		}
		if prev != '+' && prev != '(' && sc.on(iPhone) {
			sc.phone(i, false)
		}
		if n == 2 && sc.on(iNPWP) {
			sc.npwp(i)
		}
		return
	}
	if next == ':' && n <= 4 && sc.on(iIPAddress) {
		return // the ':' trigger handles IPv6; clock times and ports stop here
	}
	sep := next == ' ' || next == '-'
	// a group right after "digit space" continues a longer number: only a card may start there
	cont := false
	if prev == ' ' && i >= 2 && isDigit(s[i-2]) {
		k := i - 2
		for k > 0 && isDigit(s[k-1]) {
			k--
		}
		cont = k == 0 || !isWordByte(s[k-1])
	}
	if cont {
		if sep && n == 4 && sc.on(iCreditCard) {
			sc.card(i)
		}
		return
	}
	switch {
	case sep && n == 3:
		if sc.on(iSSN) {
			sc.ssn(i)
		}
	case sep && n == 4:
		if sc.on(iCreditCard) {
			sc.card(i)
		}
		if sc.on(iAadhaar) {
			sc.aadhaar(i)
		}
	case n >= 12 && n <= 19 && boundaryAfter(s, j):
		if n >= 13 && sc.on(iCreditCard) {
			sc.card(i)
		}
		if n == 12 && sc.on(iAadhaar) {
			sc.aadhaar(i)
		}
		if n == 16 && sc.on(iNIK) {
			sc.nik(i)
		}
		if (n == 15 || n == 16) && sc.on(iNPWP) {
			sc.npwpPlain(i, j)
		}
		return
	}
	if sep && n <= 5 && prev != '+' && prev != '(' && sc.on(iPhone) {
		sc.phone(i, false)
	}
}

// groups reads digit groups from i separated by one consistent separator byte from seps; it returns the end of
// each group (at most len(ends)) and the separator used (0 when a single group).
func groups(s string, i int, seps string, ends []int) (int, byte) {
	var sep byte
	ng := 0
	j := i
	for ng < len(ends) {
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j {
			break
		}
		ends[ng] = k
		ng++
		if k+1 >= len(s) || !isDigit(s[k+1]) {
			break
		}
		c := s[k]
		if sep == 0 {
			ok := false
			for x := 0; x < len(seps); x++ {
				if seps[x] == c {
					ok = true
				}
			}
			if !ok {
				break
			}
			sep = c
		} else if c != sep {
			break
		}
		j = k + 1
	}
	return ng, sep
}

// ssn validates AAA-GG-SSSS (dashes or spaces): area 001-899 except 666, group 01-99, serial 0001-9999.
// Unformatted nine-digit runs are not SSNs here: too many ids and counts look like them.
func (sc *scanner) ssn(i int) {
	s := sc.s
	var ends [4]int
	ng, _ := groups(s, i, "- ", ends[:])
	if ng != 3 || ends[1]-ends[0] != 3 || ends[2]-ends[1] != 5 {
		return
	}
	end := ends[2]
	if end < len(s) && (isWordByte(s[end]) || ((s[end] == '-' || s[end] == '.') && end+1 < len(s) && isDigit(s[end+1]))) {
		return
	}
	area := atoi(s[i : i+3])
	group := atoi(s[i+4 : i+6])
	serial := atoi(s[i+7 : i+11])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return
	}
	sc.add(TypeSSN, i, end)
}

func atoi(s string) int {
	v := 0
	for k := 0; k < len(s); k++ {
		v = v*10 + int(s[k]-'0')
	}
	return v
}

// card validates a payment card number: 13-19 digits, plain or in groups separated by one consistent space or dash
// (first group 4 digits), a known IIN range for the length, and the Luhn checksum. When trailing groups make it too
// long, shorter prefixes at group boundaries are tried.
func (sc *scanner) card(i int) {
	s := sc.s
	var ends [8]int
	ng, sep := groups(s, i, " -", ends[:])
	if sep != 0 && ends[0]-i != 4 {
		return
	}
	var buf [19]byte
	for g := ng; g >= 1; g-- {
		end := ends[g-1]
		n := 0
		ok := true
		for k := i; k < end; k++ {
			if isDigit(s[k]) {
				if n == 19 {
					ok = false
					break
				}
				buf[n] = s[k]
				n++
			}
		}
		if !ok || n < 13 {
			continue
		}
		if !boundaryAfter(s, end) || (end < len(s) && s[end] == '.' && end+1 < len(s) && isDigit(s[end+1])) {
			return
		}
		if g > 1 {
			for x := 1; x < g; x++ {
				if l := ends[x] - ends[x-1] - 1; l < 1 || l > 6 {
					ok = false
				}
			}
			if !ok {
				continue
			}
		}
		d := buf[:n]
		if validIIN(d) && luhn(d) {
			sc.add(TypeCreditCard, i, end)
			return
		}
	}
}

// luhn checks the Luhn (mod 10) checksum of ASCII digits.
func luhn(d []byte) bool {
	sum := 0
	dbl := false
	for k := len(d) - 1; k >= 0; k-- {
		v := int(d[k] - '0')
		if dbl {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	return sum%10 == 0
}

// iinRange is a card issuer prefix range [lo, hi] over the first `digits` digits, for lengths minLen..maxLen.
type iinRange struct {
	digits         int
	lo, hi         int
	minLen, maxLen int
}

var iinRanges = [...]iinRange{
	{1, 4, 4, 13, 19},           // Visa
	{2, 51, 55, 16, 16},         // Mastercard
	{4, 2221, 2720, 16, 16},     // Mastercard 2-series
	{2, 34, 34, 15, 15},         // American Express
	{2, 37, 37, 15, 15},         // American Express
	{3, 300, 305, 14, 19},       // Diners Club
	{2, 36, 36, 14, 19},         // Diners Club
	{2, 38, 39, 14, 19},         // Diners Club
	{4, 6011, 6011, 16, 19},     // Discover
	{3, 644, 649, 16, 19},       // Discover
	{2, 65, 65, 16, 19},         // Discover
	{2, 62, 62, 16, 19},         // UnionPay
	{4, 3528, 3589, 16, 19},     // JCB
	{4, 2200, 2204, 16, 19},     // Mir
	{4, 5018, 5018, 12, 19},     // Maestro
	{4, 5020, 5020, 12, 19},     // Maestro
	{4, 5038, 5038, 12, 19},     // Maestro
	{4, 5893, 5893, 12, 19},     // Maestro
	{4, 6304, 6304, 12, 19},     // Maestro
	{4, 6759, 6759, 12, 19},     // Maestro
	{4, 6761, 6763, 12, 19},     // Maestro
	{6, 622126, 622925, 16, 19}, // Discover / UnionPay co-brand
	{4, 6062, 6062, 16, 16},     // Hipercard
	{6, 636368, 636368, 16, 16}, // Elo
}

func validIIN(d []byte) bool {
	for _, r := range iinRanges {
		if len(d) < r.minLen || len(d) > r.maxLen {
			continue
		}
		p := atoi(string(d[:r.digits]))
		if p >= r.lo && p <= r.hi {
			return true
		}
	}
	return false
}

// aadhaar validates a 12-digit Aadhaar number (plain or 4-4-4 with spaces or dashes): first digit 2-9 and the
// Verhoeff check digit.
func (sc *scanner) aadhaar(i int) {
	s := sc.s
	var ends [4]int
	ng, sep := groups(s, i, " -", ends[:])
	var end int
	switch {
	case sep == 0 && ng == 1 && ends[0]-i == 12:
		end = ends[0]
		if i > 0 && s[i-1] == ':' && end < len(s) && s[end] == ':' {
			return // the account field of an AWS ARN (arn:aws:iam::123456789012:role/x)
		}
	case sep != 0 && ng >= 3 && ends[0]-i == 4 && ends[1]-ends[0] == 5 && ends[2]-ends[1] == 5:
		end = ends[2]
		if ng > 3 {
			return // a fourth group: a card-like or longer number
		}
	default:
		return
	}
	if !boundaryAfter(s, end) {
		return
	}
	var d [12]byte
	n := 0
	for k := i; k < end; k++ {
		if isDigit(s[k]) {
			d[n] = s[k]
			n++
		}
	}
	if d[0] < '2' || !verhoeff(d[:]) {
		return
	}
	sc.add(TypeAadhaar, i, end)
}

var verhoeffD = [10][10]byte{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
	{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
	{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
	{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
	{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
	{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
	{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
	{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
	{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
}

var verhoeffP = [8][10]byte{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
	{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
	{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
	{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
	{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
	{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
	{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
}

// verhoeff checks the Verhoeff checksum of ASCII digits (check digit last).
func verhoeff(d []byte) bool {
	c := byte(0)
	for k := 0; k < len(d); k++ {
		c = verhoeffD[c][verhoeffP[k%8][d[len(d)-1-k]-'0']]
	}
	return c == 0
}

// nikProvinces holds the valid two-digit province codes of Indonesian NIKs.
var nikProvinces = func() (t [100]bool) {
	for _, p := range []int{11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53,
		61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96, 97} {
		t[p] = true
	}
	return t
}()

// nik validates a 16-digit Indonesian NIK: province code, regency code range, non-zero district, a birth date DDMMYY
// (day + 40 for women) and a non-zero serial.
func (sc *scanner) nik(i int) {
	s := sc.s
	d := s[i : i+16]
	// regencies are numbered 01-40 (kabupaten, at most 29 per province today) and 71-79 (kota); this also rejects
	// most 16-digit epoch-microsecond values.
	if reg := atoi(d[2:4]); !nikProvinces[atoi(d[0:2])] || reg == 0 || (reg > 40 && reg < 71) || reg > 79 ||
		atoi(d[4:6]) == 0 {
		return
	}
	day := atoi(d[6:8])
	if day > 40 {
		day -= 40
	}
	month := atoi(d[8:10])
	if day < 1 || day > 31 || month < 1 || month > 12 || atoi(d[12:16]) == 0 {
		return
	}
	sc.add(TypeNIK, i, i+16)
}

// pan validates an Indian PAN, AAAAA9999A, whose fourth letter is a holder-type code (s[i] is the first letter).
func (sc *scanner) pan(i int) {
	s := sc.s
	if i+10 > len(s) || !boundaryBefore(s, i) || !boundaryAfter(s, i+10) {
		return
	}
	for k := i; k < i+5; k++ {
		if !isUpper(s[k]) {
			return
		}
	}
	if !isUpper(s[i+9]) {
		return
	}
	switch s[i+3] {
	case 'P', 'C', 'H', 'F', 'A', 'T', 'B', 'L', 'J', 'G':
	default:
		return
	}
	sc.add(TypePAN, i, i+10)
}

// ibanLengths maps a country code to its IBAN length.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
	"CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
	"IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
	"NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18,
	"SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22,
	"VG": 24, "XK": 20,
}

// iban validates an IBAN starting at i: country code with its fixed length, two check digits, and mod-97 == 1.
// The printed form with a space every four characters is accepted.
func (sc *scanner) iban(i int) {
	s := sc.s
	if !boundaryBefore(s, i) || i+4 > len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return
	}
	want, ok := ibanLengths[s[i:i+2]]
	if !ok {
		return
	}
	var buf [34]byte
	n := 0
	j := i
	for j < len(s) && n < want {
		c := s[j]
		if c == ' ' && n%4 == 0 && n > 0 && j+1 < len(s) && isAlnum(s[j+1]) {
			j++
			continue
		}
		if !isDigit(c) && !isUpper(c) {
			return
		}
		buf[n] = c
		n++
		j++
	}
	if n != want || !boundaryAfter(s, j) {
		return
	}
	// mod 97 over BBAN + country + check digits, letters as 10..35.
	rem := 0
	for k := 0; k < n; k++ {
		c := buf[(k+4)%n]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	if rem != 1 {
		return
	}
	sc.add(TypeIBAN, i, j)
}

// phone validates a phone number starting at i: "+" E.164 (country code 1-9, 8 to 15 digits, single spaces,
// dashes, dots or parentheses between groups) or a national format with at least three separated groups (or a
// parenthesised area code) totalling 10 or 11 digits, such as (415) 555-2671, 415-555-2671, 020 7946 0958.
// Bare digit runs are never phones.
func (sc *scanner) phone(i int, plus bool) {
	s := sc.s
	if i > 0 && (isWordByte(s[i-1]) || s[i-1] == '.' || s[i-1] == '-' || s[i-1] == '+' || s[i-1] == '/') {
		return
	}
	j := i
	if plus {
		j++
		if j >= len(s) || s[j] == '0' {
			return
		}
	}
	digits, grps, paren := 0, 0, false
	var sep byte
	maxGroup, minLater := 0, 99 // longest group; shortest group after the first
	for j < len(s) {
		c := s[j]
		if c == '(' {
			if paren || j+1 >= len(s) || !isDigit(s[j+1]) {
				break
			}
			k := j + 1
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k >= len(s) || s[k] != ')' || k-j-1 > 4 {
				return
			}
			digits += k - j - 1
			grps++
			paren = true
			j = k + 1
			// the separator after ")" is free: (415) 555-2671
			if j+1 < len(s) && (s[j] == ' ' || s[j] == '-' || s[j] == '.') && isDigit(s[j+1]) {
				j++
			}
			continue
		}
		if !isDigit(c) {
			break
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		digits += k - j
		grps++
		if k-j > maxGroup {
			maxGroup = k - j
		}
		if grps > 1 && k-j < minLater {
			minLater = k - j
		}
		j = k
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-' || s[j] == '.') && s[j+1] == '(' {
			j++ // the separator before "(" is free: +1 (415) 555-2671
			continue
		}
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-' || s[j] == '.') && isDigit(s[j+1]) {
			if sep == 0 {
				// The separator after a "+" country code is free: +1 415-555-2671, +44 20-7946-0958.
				if !(plus && grps == 1) {
					sep = s[j]
				}
			} else if s[j] != sep {
				break
			}
			j++
			continue
		}
		break
	}
	if j < len(s) && (isWordByte(s[j]) || ((s[j] == '.' || s[j] == '-' || s[j] == ':' || s[j] == '/') && j+1 < len(s) && isDigit(s[j+1]))) {
		return
	}
	if minLater < 2 || grps > 5 {
		return // "1 2 3 4 5 6 7 8 9 10" is a list, not a number
	}
	if plus {
		if digits < 8 || digits > 15 || (grps == 1 && digits < 10) {
			return
		}
	} else {
		if digits < 10 || digits > 11 || maxGroup > 5 || (grps < 3 && !paren) {
			return
		}
		if sep == '.' && grps == 4 && maxGroup <= 3 {
			return // a dotted quad: an IP address, not a phone
		}
	}
	sc.add(TypePhone, i, j)
}
