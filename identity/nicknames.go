package identity

import (
	"strings"
	"sync"
)

// nicknameGroups are given names and their common short and pet forms in
// the languages of cdp's customers. Each line is one group.
const nicknameGroups = `
william bill will billy willy liam wilhelm willi
robert bob rob bobby robbie bert robin
richard rick dick rich ricky richie
elizabeth liz beth betty lizzie eliza libby bess elisabeth lisa liesel lise elise
margaret maggie meg peggy marge greta gretchen margarethe margarete grete
katherine kate kathy katie cathy catherine kat kathi katharina kathrin katrin catharina kasia
james jim jimmy jamie
john jack johnny jon
jonathan jon jonny
michael mike mick mickey micha michel
thomas tom tommy thom
christopher chris kit topher
nicholas nick nicky nico nikolaus klaus
alexander alex sandy alec xander sascha
alexandra alex sandra sasha
edward ed eddie ted ned teddy
anthony tony anton toni
joseph joe joey josef sepp
daniel dan danny dani
matthew matt matthias mattes
andrew andy drew andreas andre
benjamin ben benny benji
samuel sam sammy
charles charlie chuck chas carl karl
henry harry hank heinrich heinz
patrick pat paddy
peter pete piet
stephen steve steven stefan stephan
timothy tim timmy
jennifer jen jenny jenni
jessica jess jessie
rebecca becky becca
susan sue susie suzanne susanne
deborah deb debbie
patricia pat patty trish tricia
victoria vicky tori
christina chris tina kristina christine kristin
johannes hans johann jan hannes
friedrich fritz fred
frederick fred freddie freddy
gabriele gabi gabriel gaby
francis frank frankie franz francisco paco
jose pepe
joanna jo joanne johanna hanna
abigail abby abbie
albert al bert bertie
alfred alf alfie fred
allison ali allie alison
amanda mandy
barbara barb babs
beatrice bea trixie beatrix
caroline carol carrie
daniela dani
dorothy dot dotty dora
eleanor ellie nell nora elly
emily em emmy emilia
evelyn eve evie
florence flo flossie
frances fran frankie
geoffrey geoff jeff jeffrey
gerald gerry jerry gerhard
gregory greg
isabella bella izzy isabel isabelle
jacob jake jakob
kenneth ken kenny
lawrence larry laurence lorenz
leonard leo len lenny leon
louise lou lulu luise
madeline maddie madeleine magda
nathan nate nathaniel
oliver ollie olly
philip phil pip philipp
raymond ray
ronald ron ronnie
sebastian seb basti
theodore theo ted teddy
vincent vince vinnie
walter walt wally
zachary zach zack
`

// nicknameIndex maps each name to the groups it belongs to.
var nicknameIndex = sync.OnceValue(func() map[string][]uint16 {
	idx := make(map[string][]uint16)
	for g, line := range strings.Split(strings.TrimSpace(nicknameGroups), "\n") {
		for _, name := range strings.Fields(line) {
			idx[name] = append(idx[name], uint16(g))
		}
	}
	return idx
})

// nicknames reports whether two folded given names are forms of one name
// ("william" and "bill").
func nicknames(a, b string) bool {
	idx := nicknameIndex()
	for _, ga := range idx[a] {
		for _, gb := range idx[b] {
			if ga == gb {
				return true
			}
		}
	}
	return false
}
