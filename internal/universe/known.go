package universe

// known are well-known Binance USD-M perpetual tokens with realistic prices
// (USDT, late 2025). Order matters: it is the order of [Instruments].
var known = []struct {
	token string
	price float64
}{
	{"BTC", 95000}, {"ETH", 3300}, {"BNB", 650}, {"SOL", 180}, {"XRP", 2.3},
	{"DOGE", 0.25}, {"ADA", 0.75}, {"TRX", 0.25}, {"AVAX", 30}, {"LINK", 18},
	{"DOT", 5.5}, {"1000SHIB", 0.018}, {"LTC", 100}, {"BCH", 450}, {"NEAR", 4.5},
	{"UNI", 10}, {"ATOM", 6}, {"XLM", 0.35}, {"ETC", 22}, {"FIL", 4},
	{"APT", 8}, {"ARB", 0.6}, {"OP", 1.5}, {"SUI", 3.5}, {"INJ", 20},
	{"TIA", 5}, {"SEI", 0.35}, {"1000PEPE", 0.012}, {"WIF", 1.5}, {"1000BONK", 0.025},
	{"1000FLOKI", 0.12}, {"1000SATS", 0.00025}, {"1000LUNC", 0.08}, {"1000XEC", 0.03}, {"1MBABYDOGE", 0.0015},
	{"1000000MOG", 1.2}, {"1000CHEEMS", 0.0015}, {"1000WEN", 0.05}, {"1000RATS", 0.15}, {"1000CAT", 0.04},
	{"AAVE", 250}, {"MKR", 1500}, {"CRV", 0.8}, {"LDO", 1.5}, {"SNX", 1.5},
	{"COMP", 60}, {"YFI", 7000}, {"SUSHI", 1}, {"1INCH", 0.35}, {"DYDX", 1},
	{"GMX", 25}, {"PENDLE", 4}, {"JUP", 0.8}, {"PYTH", 0.3}, {"JTO", 2.5},
	{"ORDI", 25}, {"STX", 1.5}, {"RUNE", 3}, {"HBAR", 0.25}, {"VET", 0.04},
	{"ALGO", 0.3}, {"ICP", 9}, {"EGLD", 30}, {"SAND", 0.5}, {"MANA", 0.45},
	{"AXS", 6}, {"GALA", 0.03}, {"APE", 1}, {"IMX", 1.3}, {"FET", 1.3},
	{"RENDER", 6}, {"WLD", 2}, {"ARKM", 0.7}, {"GRT", 0.2}, {"THETA", 1.8},
	{"EOS", 0.7}, {"XTZ", 1}, {"NEO", 12}, {"IOTA", 0.25}, {"KAVA", 0.45},
	{"ZEC", 50}, {"DASH", 30}, {"QNT", 100}, {"CHZ", 0.09}, {"ENJ", 0.25},
	{"BAT", 0.2}, {"ZIL", 0.02}, {"ONE", 0.02}, {"ROSE", 0.08}, {"CELO", 0.7},
	{"KSM", 30}, {"ZRX", 0.4}, {"ANKR", 0.03}, {"STORJ", 0.5}, {"SKL", 0.04},
	{"MASK", 3}, {"BLUR", 0.25}, {"ENS", 30}, {"SSV", 25}, {"RPL", 10},
	{"FXS", 3}, {"WOO", 0.2}, {"CFX", 0.15}, {"ID", 0.3}, {"HOOK", 0.4},
	{"MAGIC", 0.4}, {"HIGH", 1.5}, {"CYBER", 3}, {"ACE", 2}, {"NFP", 0.2},
	{"AI", 0.4}, {"XAI", 0.3}, {"MANTA", 0.8}, {"ALT", 0.12}, {"STRK", 0.5},
	{"DYM", 2}, {"PIXEL", 0.1}, {"PORTAL", 0.3}, {"AEVO", 0.4}, {"ETHFI", 2},
	{"ENA", 0.8}, {"W", 0.3}, {"TNSR", 0.5}, {"SAGA", 1.5}, {"REZ", 0.05},
	{"BB", 0.3}, {"NOT", 0.006}, {"IO", 2}, {"ZK", 0.15}, {"ZRO", 5},
	{"LISTA", 0.4}, {"TON", 5}, {"POL", 0.45}, {"EIGEN", 3}, {"HMSTR", 0.003},
	{"CATI", 0.4}, {"NEIRO", 0.0015}, {"DOGS", 0.0006}, {"TAO", 450}, {"TRUMP", 15},
	{"PENGU", 0.03}, {"VIRTUAL", 2}, {"AI16Z", 0.6}, {"MOVE", 0.6}, {"ME", 4},
	{"USUAL", 0.8}, {"HYPE", 25}, {"KAITO", 1.5}, {"IP", 5}, {"BERA", 6},
	{"LAYER", 1.5}, {"S", 0.7}, {"ONDO", 1.2}, {"GOAT", 0.4}, {"POPCAT", 0.6},
	{"MEW", 0.008}, {"BOME", 0.008}, {"PNUT", 0.6}, {"ACT", 0.3}, {"WLFI", 0.2},
	{"ASTER", 1.5}, {"XPL", 1}, {"ZEN", 10}, {"1000000BOB", 0.05}, {"币安人生", 0.2},
}

// usdc are the tokens that also trade against USDC (BTCUSDC, ...).
var usdc = []string{"BTC", "ETH", "BNB", "SOL", "XRP", "DOGE"}
