//! `bench-tokens KEY.pem ISSUER ORIGIN USER COUNT`: prints COUNT RS256 session tokens, one per line,
//! shaped as Clerk mints them (`sub`, `sid`, `iss`, `azp`, `iat`, `nbf`, `exp` an hour away), signed
//! with the PKCS#8 private key in KEY.pem. USER names the `sub` of all of them, or with a `{n}` in it
//! a user per token. Each token is distinct (`sid` counts).

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key, issuer, origin, user, count] = args.as_slice() else {
        eprintln!("usage: bench-tokens KEY.pem ISSUER ORIGIN USER COUNT");
        std::process::exit(2);
    };
    let pem = std::fs::read(key).expect("the private key file");
    let key = EncodingKey::from_rsa_pem(&pem).expect("an RSA private key in PEM");
    let count: usize = count.parse().expect("COUNT is a number");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for n in 0..count {
        let claims = json!({
            "sub": user.replace("{n}", &n.to_string()), "sid": format!("sess_{n}"),
            "iss": issuer, "azp": origin, "v": 2,
            "iat": now - 1, "nbf": now - 1, "exp": now + 3600,
        });
        let token = encode(&Header::new(Algorithm::RS256), &claims, &key).expect("signed");
        println!("{token}");
    }
}
