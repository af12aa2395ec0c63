import ModVaultFixtures
let info = TextureInfo(width: 4096, height: 4096, format: .bc7)
var total = 0
for seed in 0..<4 as Range<UInt64> { total += TextureSynthesizer.surface(info, mip: 0, seed: seed, style: .diffuse).count }
print(total)
let s = TextureSynthesizer.surface(TextureInfo(width: 4096, height: 4096, format: .bc1), mip: 0, seed: 1, style: .diffuse)
var p = 0
for _ in 0..<0 { p += FixtureZlib.deflate(s).count }
print(p)
