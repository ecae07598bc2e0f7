//! Per-frame costs of the media engine's hot paths, on speech (a prompt the set-up renders):
//! - receive: L16 decode + source/size checks, resample to 16 kHz (rubato), webrtc-vad,
//!   segmenter — for 8 kHz (resampled) and 16 kHz (pass-through) channels;
//! - transmit: next prompt frame + L16 encode + pacer bookkeeping, and the same with the UDP
//!   send over loopback (what one paced frame costs the reactor).

use std::hint::black_box;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use aicall::media::analysis::Analyzer;
use aicall::media::ingress::StreamMonitor;
use aicall::media::player::{Pacer, Player};
use aicall::media::prompt::load_wav;
use aicall::media::VadConfig;
use criterion::{criterion_group, criterion_main, Criterion};

/// The demo's 6 s price prompt, rendered by `scripts/setup` on every machine.
const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/.setup/speech/prompts/price_answer.wav"
);

fn speech(rate: u32) -> aicall::media::prompt::Prompt {
    load_wav(Path::new(SPEECH), rate)
        .unwrap_or_else(|e| panic!("{e}: run scripts/setup (it renders the speech)"))
}

fn receive(c: &mut Criterion) {
    for rate in [8000u32, 16000] {
        let speech = speech(rate);
        let spf = (rate / 50) as usize;
        let datagrams: Vec<Vec<u8>> = speech
            .samples()
            .chunks_exact(spf)
            .map(|f| f.iter().flat_map(|s| s.to_le_bytes()).collect())
            .collect();
        let switch = "127.0.0.1:41000".parse().expect("address");
        let t0 = Instant::now();
        let mut monitor = StreamMonitor::new(rate, switch, t0);
        let mut analyzer = Analyzer::new(rate, &VadConfig::default()).expect("analyzer");
        let mut frame = [0i16; 320];
        let mut k = 0usize;
        c.bench_function(&format!("receive_resample_vad_{}k", rate / 1000), |b| {
            b.iter(|| {
                let d = &datagrams[k % datagrams.len()];
                let now = t0 + Duration::from_millis(20 * k as u64);
                k += 1;
                monitor.on_datagram(switch, d, now, &mut frame);
                analyzer
                    .push(&frame[..spf], now, |ev| {
                        black_box(ev);
                    })
                    .expect("analysed");
            })
        });
    }
}

fn transmit(c: &mut Criterion) {
    let prompt = speech(8000);
    let mut player = Player::new(8000, 4);
    let mut pacer = Pacer::new(Duration::from_millis(60));
    let mut pcm = [0i16; 160];
    let mut bytes = [0u8; 320];
    let mut id = 0;
    let mut build = |player: &mut Player, pacer: &mut Pacer| {
        if !player.is_active() {
            id += 1;
            player.enqueue(id, prompt.clone(), true).expect("queued");
            pacer.start(Instant::now());
        }
        let f = player.next_frame(&mut pcm);
        for (b, s) in bytes.chunks_exact_mut(2).zip(&pcm) {
            b.copy_from_slice(&s.to_le_bytes());
        }
        black_box(pacer.on_sent(Instant::now()));
        black_box(f);
        bytes
    };
    c.bench_function("transmit_frame_build_8k", |b| {
        b.iter(|| black_box(build(&mut player, &mut pacer)))
    });
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("address");
    let mut sink = [0u8; 2048];
    c.bench_function("transmit_frame_build_send_loopback_8k", |b| {
        b.iter(|| {
            let frame = build(&mut player, &mut pacer);
            tx.send_to(&frame, to).expect("sent");
            black_box(rx.recv(&mut sink).expect("received"));
        })
    });
}

criterion_group!(benches, receive, transmit);
criterion_main!(benches);
