import Foundation

/// Server-rendered pages: escaping, the layout, and the little script the live parts use.
enum HTML {
    /// Text made safe for element content and quoted attributes.
    static func escape(_ text: String) -> String {
        // Most names need nothing: one scan of the bytes, no copy.
        if !text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A query value made safe for a URL.
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// `n` bytes in binary units with one decimal (`5.5 KiB`), built without `String(format:)`,
    /// which costs more than the rest of a row when a page lists 100,000 of them.
    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        guard n >= 1024 else { return "\(n) B" }
        var scale: Int64 = 1024, unit = 1
        while n >= scale * 1024, unit < units.count - 1 { scale *= 1024; unit += 1 }
        let tenths = (n * 10 + scale / 2) / scale
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }

    static func time(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: date) + " UTC"
    }

    /// A whole page: navigation, the session's CSRF token for scripts, and `body`.
    static func page(title: String, csrf: String?, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · ModVault</title>
        \(csrf.map { "<meta name=\"csrf\" content=\"\(escape($0))\">" } ?? "")
        <style>
        body{font:14px system-ui,sans-serif;margin:0;color:#1d1d1f}
        nav{background:#23272f;padding:8px 16px}nav a{color:#e6e6e6;margin-right:16px;text-decoration:none}
        main{padding:16px}table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}
        th{background:#f4f4f6}.num{text-align:right}.tag{background:#e0ecff;border-radius:3px;padding:0 4px;margin-right:4px}
        .merge{background:#ffe7c2;border-radius:3px;padding:0 4px}tr.day th{background:#fff;padding-top:12px;border-bottom:2px solid #23272f}.error{color:#b00020}.added{color:#0a7d2c}.removed{color:#b00020}
        .inside{color:#555;font-family:monospace;white-space:pre;margin:2px 0 4px 16px}code{background:#f4f4f6;padding:1px 4px}
        progress{width:320px}
        table.sides td{vertical-align:top;width:33%}pre.version{background:#f8f8fa;padding:6px;max-height:420px;overflow:auto;white-space:pre-wrap}
        table.records td{vertical-align:top}.field{font-family:monospace;white-space:pre-wrap;word-break:break-all}.field.differs{background:#fff3c4}
        button.chosen{background:#23272f;color:#fff}
        </style></head><body>
        <nav><a href="/">History</a><a href="/sync">Sync</a><a href="/team">Team</a><a href="/repository">Repository</a><a href="/jobs">Jobs</a></nav>
        <main><h1>\(escape(title))</h1>
        \(body)
        </main>
        <script>
        function csrf(){const m=document.querySelector('meta[name=csrf]');return m?m.content:''}
        async function post(url,body){const r=await fetch(url,{method:'POST',headers:{'Content-Type':'application/json','X-CSRF-Token':csrf()},body:JSON.stringify(body)});
          const j=await r.json();if(!r.ok)throw new Error(j.error||r.statusText);return j}
        function follow(id,el){const es=new EventSource('/api/v1/jobs/'+id+'/events');
          es.onmessage=e=>{const j=JSON.parse(e.data),bar=el.querySelector('progress');
            if(j.total_bytes>0){bar.max=j.total_bytes;bar.value=j.bytes}else{bar.max=Math.max(1,j.total_files);bar.value=j.files}
            el.querySelector('.state').textContent=j.state+' · '+j.files+(j.total_files?'/'+j.total_files:'')+' files'+(j.message?' · '+j.message:'');
            if(j.state!=='running')es.close()}}
        document.querySelectorAll('[data-job]').forEach(el=>follow(el.dataset.job,el));
        </script></body></html>
        """
    }
}
