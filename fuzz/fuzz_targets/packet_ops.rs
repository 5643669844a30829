//! Fuzzes `Packet`'s slicing API: the input is a program of operations over a few packets,
//! each mirrored on a `Vec<u8>` model; any difference, or any panic other than the documented
//! bounds checks (which the program never triggers), is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_packet::{Packet, PacketWriter};

/// Reads the program: one opcode byte, then its operands.
struct Program<'a>(&'a [u8]);

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn index(&mut self, n: usize) -> Option<usize> {
        Some(usize::from(self.byte()?) % n)
    }

    fn upto(&mut self, max: usize) -> Option<usize> {
        let word = u16::from_le_bytes([self.byte()?, self.byte()?]);
        Some(usize::from(word) % (max + 1))
    }

    fn data(&mut self) -> Option<&[u8]> {
        let len = usize::from(self.byte()?).min(self.0.len());
        let (data, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(data)
    }
}

/// The longest packet a program may build.
const MAX_LEN: usize = 1 << 16;

fn run(input: &[u8]) -> Option<()> {
    let mut program = Program(input);
    let mut packets = vec![Packet::new()];
    let mut models: Vec<Vec<u8>> = vec![Vec::new()];
    while packets.len() < 64 {
        let n = packets.len();
        match program.byte()? % 9 {
            0 => {
                let data = program.data()?;
                packets.push(Packet::copy_from_slice(data));
                models.push(data.to_vec());
            }
            1 => {
                let chunk = usize::from(program.byte()?) + 1;
                let data = program.data()?;
                let mut w = PacketWriter::with_chunk_size(chunk);
                for piece in data.chunks(7) {
                    w.extend_from_slice(piece);
                }
                packets.push(w.into_packet());
                models.push(data.to_vec());
            }
            2 => {
                let i = program.index(n)?;
                packets.push(packets[i].share());
                models.push(models[i].clone());
            }
            3 => {
                let i = program.index(n)?;
                let len = models[i].len();
                let (a, b) = (program.upto(len)?, program.upto(len)?);
                let (a, b) = (a.min(b), a.max(b));
                packets.push(packets[i].slice(a..b));
                models.push(models[i][a..b].to_vec());
            }
            4 => {
                let i = program.index(n)?;
                let k = program.upto(models[i].len())?;
                let front = packets[i].split_to(k);
                let front_model: Vec<u8> = models[i].drain(..k).collect();
                packets.push(front);
                models.push(front_model);
            }
            5 => {
                let i = program.index(n)?;
                let k = program.upto(models[i].len())?;
                packets[i].trim_front(k);
                models[i].drain(..k);
            }
            6 => {
                let i = program.index(n)?;
                let len = models[i].len();
                let k = program.upto(len)?;
                packets[i].trim_back(k);
                models[i].truncate(len - k);
            }
            7 => {
                let (i, j) = (program.index(n)?, program.index(n)?);
                if models[i].len() + models[j].len() > MAX_LEN {
                    continue; // self-appends double: keep the program's memory bounded
                }
                let other = packets[j].share();
                let other_model = models[j].clone();
                packets[i].append(other);
                models[i].extend_from_slice(&other_model);
            }
            _ => {
                let i = program.index(n)?;
                assert_eq!(packets[i].linearize(), &models[i][..]);
            }
        }
        for (p, m) in packets.iter().zip(&models) {
            assert_eq!(p.len(), m.len());
            assert!(p == &m[..], "packet bytes differ from the model");
        }
    }
    Some(())
}

fuzz_target!(|input: &[u8]| {
    let _ = run(input);
});
