//! Media for the demo catalog and the site's tests, made here rather than shipped: posters as
//! SVG (a title on a colour field) and a short sound clip as WAV (a few notes of a scale).

use std::path::Path;

/// Writes a 400×600 SVG poster of `title` on a field of `hue` (0–359).
pub fn write_poster(path: &Path, title: &str, hue: u16) -> std::io::Result<()> {
    let escaped = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let lines: Vec<String> = wrap(&escaped, 14);
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        text.push_str(&format!(
            "<text x=\"200\" y=\"{}\" font-size=\"40\" text-anchor=\"middle\" \
             font-family=\"sans-serif\" font-weight=\"700\" fill=\"#fff\">{line}</text>",
            330 + i * 48
        ));
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"600\" \
         viewBox=\"0 0 400 600\"><defs><linearGradient id=\"g\" x1=\"0\" y1=\"0\" x2=\"0\" \
         y2=\"1\"><stop offset=\"0\" stop-color=\"hsl({hue},55%,42%)\"/><stop offset=\"1\" \
         stop-color=\"hsl({},60%,14%)\"/></linearGradient></defs><rect width=\"400\" \
         height=\"600\" fill=\"url(#g)\"/><circle cx=\"200\" cy=\"190\" r=\"90\" \
         fill=\"hsl({},70%,70%)\" opacity=\"0.35\"/>{text}</svg>",
        (hue + 40) % 360,
        (hue + 180) % 360
    );
    std::fs::write(path, svg)
}

/// `text` in lines of at most about `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// Writes a mono 16-bit 22 050 Hz WAV of `secs` seconds: the notes of a major scale.
pub fn write_clip(path: &Path, secs: u32) -> std::io::Result<()> {
    const RATE: u32 = 22_050;
    let samples = RATE * secs;
    let mut data = Vec::with_capacity(samples as usize * 2);
    let scale = [261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25];
    for n in 0..samples {
        let t = f64::from(n) / f64::from(RATE);
        let note = scale[(t * 2.0) as usize % scale.len()];
        let fade = (1.0 - (t * 2.0).fract()).min(1.0);
        let v = (t * note * std::f64::consts::TAU).sin() * 0.3 * fade;
        data.extend_from_slice(&((v * f64::from(i16::MAX)) as i16).to_le_bytes());
    }
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posters_wrap_titles_and_escape_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.svg");
        write_poster(&p, "Tom & Jerry <in> Big Buck Bunny", 10).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Tom &amp;"));
        assert!(!svg.contains("<in>"));
        assert_eq!(wrap("Big Buck Bunny", 14), vec!["Big Buck Bunny"]);
        assert_eq!(wrap("Cosmos Laundromat", 14), vec!["Cosmos", "Laundromat"]);
    }

    #[test]
    fn clips_are_wav() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.wav");
        write_clip(&p, 2).unwrap();
        let wav = std::fs::read(&p).unwrap();
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(wav.len(), 44 + 22_050 * 2 * 2);
    }
}

/// An item of the demo catalog, with what its page shows.
#[derive(Debug, Clone)]
pub struct DemoItem {
    pub id: &'static str,
    pub title: &'static str,
    pub len: u64,
    /// Hot level (edges of this level or lower prefill it).
    pub level: Option<u8>,
    /// Regions it may be held and downloaded in; empty: everywhere.
    pub regions: &'static [&'static str],
    pub genres: &'static str,
    pub rating: u8,
    pub description: &'static str,
    /// The poster's colour.
    pub hue: u16,
    /// Whether it has a sound clip as its trailer.
    pub clip: bool,
}

/// The demo catalog: the largest item `mib` MiB, the others smaller.
pub fn catalog(mib: u64) -> Vec<DemoItem> {
    let m = 1u64 << 20;
    vec![
        DemoItem {
            id: "big-buck-bunny",
            title: "Big Buck Bunny",
            len: mib * m,
            level: Some(1),
            regions: &[],
            genres: "animation,comedy",
            rating: 0,
            description: "A large and lovable rabbit deals with three bullying rodents.",
            hue: 95,
            clip: true,
        },
        DemoItem {
            id: "sintel",
            title: "Sintel",
            len: mib / 2 * m + 12_345,
            level: None,
            regions: &["eu", "us"],
            genres: "animation,fantasy",
            rating: 12,
            description: "A lonely young woman searches for the baby dragon she befriended.",
            hue: 15,
            clip: false,
        },
        DemoItem {
            id: "tears-of-steel",
            title: "Tears of Steel",
            len: mib / 4 * m + 999,
            level: None,
            regions: &["eu"],
            genres: "science-fiction",
            rating: 12,
            description: "Warriors and scientists gather in Amsterdam to save the world from robots.",
            hue: 210,
            clip: false,
        },
        DemoItem {
            id: "cosmos-laundromat",
            title: "Cosmos Laundromat",
            len: 3 * m + 1,
            level: None,
            regions: &[],
            genres: "animation,drama",
            rating: 16,
            description: "A suicidal sheep meets a salesman who offers him a lifetime of lives.",
            hue: 280,
            clip: false,
        },
    ]
}

/// Ingests `item` into `net` (content from `seed`, written under `dir`), its poster and clip
/// first, as public objects with their media types.
pub fn ingest(net: &crate::Network, dir: &Path, item: &DemoItem, seed: u64) -> anyhow::Result<()> {
    let poster_id = format!("{}-poster", item.id);
    let poster = dir.join(format!("{poster_id}.svg"));
    write_poster(&poster, item.title, item.hue)?;
    net.ingest_with(
        &poster_id,
        &format!("{} poster", item.title),
        None,
        &[],
        "&public=true&media_type=image/svg%2Bxml",
        &poster,
    )?;
    let mut extra = format!(
        "&{}",
        serde_urlencoded::to_string([
            ("poster", poster_id.as_str()),
            ("genres", item.genres),
            ("rating", &item.rating.to_string()),
            ("description", item.description),
        ])?
    );
    if item.clip {
        let clip_id = format!("{}-clip", item.id);
        let clip = dir.join(format!("{clip_id}.wav"));
        write_clip(&clip, 4)?;
        net.ingest_with(
            &clip_id,
            &format!("{} clip", item.title),
            None,
            &[],
            "&public=true&media_type=audio/wav",
            &clip,
        )?;
        extra.push_str(&format!("&trailer={clip_id}"));
    }
    let content = dir.join(format!("{}.bin", item.id));
    crate::network::write_content(&content, item.len, seed)?;
    net.ingest_with(
        item.id,
        item.title,
        item.level,
        item.regions,
        &extra,
        &content,
    )?;
    Ok(())
}

/// Sets the items the home page promotes.
pub fn promote(net: &crate::Network, ids: &[&str]) -> anyhow::Result<()> {
    let resp = reqwest::blocking::Client::new()
        .put(format!("{}/v1/admin/promotions", net.main.url()))
        .bearer_auth(&net.admin_token)
        .json(&serde_json::json!({ "items": ids }))
        .send()?;
    anyhow::ensure!(
        resp.status().is_success(),
        "promotions: {} {}",
        resp.status(),
        resp.text().unwrap_or_default()
    );
    Ok(())
}
