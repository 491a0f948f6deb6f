package demo_test

import (
	"fmt"
	"os"

	"github.com/cdp-project/cdp/demo"
)

// Three synthetic persons, as four departments hold them. Records of one
// person share an entity_id; their source_ids do not reveal it.
func ExampleGenerate() {
	st, err := demo.Generate(os.Stdout, demo.Options{People: 3, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.People, "people,", st.Records, "records")
	// Output:
	// source,source_id,given_name,family_name,full_name,birth_date,gender,email,phone,street,address_line2,postcode,city,region,country,national_id,customer_since,entity_id
	// support,TCK-762442781,,,Marco de Jong,,,m.dejong66@mail.example.org,,Beatrixstr. 10,,8923CK,Leeuwarden,,NL,,,P0000003
	// billing,ACC-0797604114,Raymond,White,Raymond White,,,raymondwhite@example.org,07755009197,38 Westfield Road,,S5 9AD,Sheffield,Yorkshire and the Humber,GB,WJ 01 02 27 C,2018-09-01,P0000001
	// support,TCK-090286250,,,Daniel Gerard,,,daniel.g@example.org,06 13 12 55 72,,,,,,FR,,,P0000002
	// billing,ACC-9334504375,Marco,De Jong,,,,m.dejong66@mail.example.org,+31 6 50013501,Beatrixstr. 10,,8923 CK,Ljouwert,Friesland,NL,881657281,2010-05-05,P0000003
	// marketing,b79edc8db6ad,Raymond,White,,1978-09-24,m,raymondwhite@example.org,,,,,,,GB,,,P0000001
	// sales,S-GPOOSBIV,Marco,de Jong,,18/12/1966,m,m.dejong66@mail.example.org,+31 6 50013501,Beatrixstraat 10,,8923 CK,Leeuwarden,,NL,,2010-01-30,P0000003
	// support,TCK-655350081,Raymond,White,,,,raymondwhite@example.org,07755 009197,,,,,,GB,,,P0000001
	// sales,S-ZIDUCR62,Raymond,White,,24/09/1978,,raymondwhite@example.org,+44 7755 009197,38 Westfield Road,,s5 9ad,Sheffield,,GB,,2018-05-06,P0000001
	// sales,S-NHCIISWH,Daniel,Gérard,,23/05/1979,,daniel.g@example.org,+33 6 13 12 55 72,95 Rue Principale,,75018,Paris,Île-de-France,FR,,2024-04-15,P0000002
	// 3 people, 9 records
}

func ExampleHeader() {
	fmt.Println(demo.Header())
	// Output:
	// [source source_id given_name family_name full_name birth_date gender email phone street address_line2 postcode city region country national_id customer_since entity_id]
}
