/// Number formatting without Foundation's String(format:).
public enum Format {
    /// x with exactly `digits` decimals.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let negative = x < 0
        let scaled = (abs(x) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var text = String(whole)
        if digits > 0 {
            let f = String(fraction)
            text += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return (negative && scaled != 0 ? "-" : "") + text
    }

    /// 1234567 → "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// Time left when `done` of `total` took `elapsed` seconds, at the same rate; "?" before
    /// anything is done.
    public static func eta(elapsed: Double, done: Int, total: Int) -> String {
        done > 0 ? seconds(elapsed / Double(done) * Double(total - done)) : "?"
    }

    /// 83.4 → "1m23s"; 5.2 → "5.2s".
    public static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        if s < 60 { return fixed(s, 1) + "s" }
        let total = Int(s.rounded())
        let h = total / 3600, m = (total % 3600) / 60, sec = total % 60
        let ss = sec < 10 ? "0\(sec)" : "\(sec)"
        if h > 0 { return "\(h)h" + (m < 10 ? "0\(m)" : "\(m)") + "m" + ss + "s" }
        return "\(m)m" + ss + "s"
    }

    /// 0.0018 → "1.80e-3".
    public static func scientific(_ x: Double) -> String {
        guard x != 0, x.isFinite else { return fixed(x, 0) }
        var exponent = 0
        var m = abs(x)
        while m >= 10 { m /= 10; exponent += 1 }
        while m < 1 { m *= 10; exponent -= 1 }
        if (m * 100).rounded() >= 1000 { m /= 10; exponent += 1 }
        return (x < 0 ? "-" : "") + fixed(m, 2) + "e" + String(exponent)
    }

    /// 15_200_000 → "15.2M".
    public static func count(_ n: Int) -> String {
        if n >= 1_000_000 { return fixed(Double(n) / 1e6, 1) + "M" }
        if n >= 10_000 { return fixed(Double(n) / 1e3, 1) + "K" }
        return String(n)
    }

    /// "5m", "300s", "1h30m", "90" (seconds) → seconds.
    public static func parseDuration(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        for ch in text {
            if ch.isNumber || ch == "." {
                number.append(ch)
            } else {
                guard let v = Double(number) else { return nil }
                switch ch {
                case "h": total += v * 3600
                case "m": total += v * 60
                case "s": total += v
                default: return nil
                }
                number = ""
                sawUnit = true
            }
        }
        if !number.isEmpty {
            guard let v = Double(number) else { return nil }
            total += v
        } else if !sawUnit {
            return nil
        }
        return total
    }
}

extension String {
    /// Without leading and trailing whitespace (spaces, tabs, newlines).
    public var trimmingWhitespace: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}
