fn main() {
    for dir in ["tests/data/sip/rfc4475", "tests/data/sip/rfc5118"] {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        for p in v {
            let d = std::fs::read(&p).unwrap();
            match drachtio_sip::parse(&d) {
                Ok(m) => println!("OK   {:?} {}", p.file_name().unwrap(), m.headers().len()),
                Err(e) => println!("ERR  {:?} {}", p.file_name().unwrap(), e),
            }
        }
    }
}
